import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalModel } from '../../src/models/local/local-model.js';
import { KnowledgeBase } from '../../src/kb/service.js';
import { HASHED_VECTOR_WEIGHT } from '../../src/kb/setup.js';
import { PostgresQueue } from '../../src/store/postgres/queue.js';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import type { Queue } from '../../src/store/types.js';
import { queueOptions, tempDir } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';

const log = pino({ level: 'silent' });

const GUIDE = `# Acme guide

## Accounts

### Passwords

To reset your password, open Settings and choose Security. A reset link is emailed to you and works for one hour.

### Two-factor authentication

Turn on two-factor authentication under Settings, Security, with an authenticator app.

## Billing

The Pro plan costs 8 euros a month. Invoices are sent on the first day of the month.
`;

const FAQ = `- question: Can I use Acme offline?
  alternatives: [does it work without internet]
  answer: Yes. Notes you opened recently stay available offline and sync when you are back online.
- question: How do I delete my account?
  answer: Write to support from the address of the account; it is deleted within 30 days.
`;

const backends: Array<[string, () => Promise<{ queue: Queue; done: () => Promise<void> }>]> = [
  [
    'sqlite',
    async () => {
      const { dir, cleanup } = tempDir();
      const queue = new SqliteQueue(path.join(dir, 'kb.db'), queueOptions());
      return { queue, done: async () => (await queue.close(), cleanup()) };
    },
  ],
  [
    'postgres',
    async () => {
      const schema = await freshSchema();
      const queue = await PostgresQueue.open(storeUrl(schema), queueOptions());
      return { queue, done: async () => (await queue.close(), await dropSchema(schema)) };
    },
  ],
];

describe.each(backends)('the knowledge base on %s', (_name, open) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const setup = async () => {
    const { queue, done } = await open();
    const { dir, cleanup } = tempDir('pincer-kb-');
    cleanups.push(cleanup, done);
    const folder = path.join(dir, 'knowledge');
    mkdirSync(folder);
    const kb = new KnowledgeBase({
      store: queue.knowledge,
      dir: folder,
      watch: false,
      embedder: { key: 'local/hashed', model: new LocalModel({ botName: 'Pincer', version: 'test' }), weight: HASHED_VECTOR_WEIGHT },
      limits: { maxFileBytes: 100_000, maxChunks: 1_000, targetTokens: 400, overlapTokens: 60, parseTimeoutMs: 10_000 },
      log,
    });
    cleanups.push(() => kb.close());
    return { kb, folder, queue };
  };

  it('indexes the folder, finds the right section or FAQ entry first, and gates answers on coverage', async () => {
    const { kb, folder } = await setup();
    writeFileSync(path.join(folder, 'guide.md'), GUIDE);
    writeFileSync(path.join(folder, 'faq.yaml'), FAQ);
    expect(await kb.start()).toEqual({ indexed: 2, unchanged: 0, failed: 0, removed: 0 });
    expect(await kb.hasChunks()).toBe(true);

    const reset = await kb.search('how can I reset my password?', 5);
    expect(reset.hits[0]).toMatchObject({ source: 'kb:guide.md', headingPath: ['Acme guide', 'Accounts', 'Passwords'], lineStart: expect.any(Number) });
    expect(reset.confidence).toBeGreaterThanOrEqual(0.7);
    const offline = await kb.search('does acme work without internet', 5);
    expect(offline.hits[0]).toMatchObject({ source: 'kb:faq.yaml', kind: 'faq', questions: ['Can I use Acme offline?', 'does it work without internet'] });
    const unrelated = await kb.search('what is the capital of france', 5);
    expect(unrelated.confidence).toBeLessThan(0.7);
  });

  it('re-indexes a changed file keeping unchanged chunks, removes a deleted one, and lists a broken one with its error', async () => {
    const { kb, folder, queue } = await setup();
    writeFileSync(path.join(folder, 'guide.md'), GUIDE);
    writeFileSync(path.join(folder, 'faq.yaml'), FAQ);
    await kb.start();
    const before = (await kb.search('reset password', 1)).hits[0]!;

    writeFileSync(path.join(folder, 'guide.md'), GUIDE.replace('8 euros', '9 euros'));
    writeFileSync(path.join(folder, 'broken.pdf'), 'this is not a PDF');
    rmSync(path.join(folder, 'faq.yaml'));
    expect(await kb.scan()).toEqual({ indexed: 1, unchanged: 0, failed: 1, removed: 1 });
    const after = (await kb.search('reset password', 1)).hits[0]!;
    expect(after.chunkId).toBe(before.chunkId);
    expect((await kb.search('pro plan price', 1)).hits[0]!.text).toContain('9 euros');
    const sources = await kb.listSources();
    expect(sources.map((s) => [s.uri, s.status])).toEqual(
      expect.arrayContaining([
        ['kb:guide.md', 'indexed'],
        ['kb:broken.pdf', 'error'],
      ]),
    );
    expect(sources.find((s) => s.uri === 'kb:broken.pdf')!.error).toBeTruthy();
    expect(sources.some((s) => s.uri === 'kb:faq.yaml')).toBe(false);
    // Unchanged bytes are not parsed again.
    expect(await kb.scan()).toMatchObject({ indexed: 0, unchanged: 1 });
    // Every chunk got a vector of the knowledge base's model.
    expect((await queue.knowledge.chunksWithoutVector('local/hashed', 10)).length).toBe(0);
  });

  it('takes uploads into the folder and refuses names that would leave it', async () => {
    const { kb, folder } = await setup();
    await kb.start();
    const outcome = await kb.upload('guides/billing.md', Buffer.from(GUIDE));
    expect(outcome).toMatchObject({ status: 'indexed', source: { uri: 'kb:guides/billing.md', status: 'indexed' } });
    expect(await kb.scan()).toMatchObject({ unchanged: 1, removed: 0 });
    expect(() => kb.upload('../escape.md', Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'KB_SOURCE_INVALID' }));
    expect(() => kb.upload('.hidden.md', Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'KB_SOURCE_INVALID' }));
    const removed = await kb.remove(outcome.source.id);
    expect(removed.uri).toBe('kb:guides/billing.md');
    expect(existsSync(path.join(folder, 'guides/billing.md'))).toBe(false);
    expect(await kb.scan()).toMatchObject({ indexed: 0, removed: 0 });
  });
});
