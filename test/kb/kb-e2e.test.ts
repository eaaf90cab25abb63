/**
 * The knowledge base through a running Pincer: the default setup (built-in model, default
 * plugins) answering from a knowledge folder with citations, the admin API, and a language
 * model (the OpenAI-compatible fake) given the passages and its citations checked.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { eventually, getJson, LogCapture, postJson, tempDir, testConfig } from '../support/index.js';

const GUIDE = `# Acme guide

## Passwords

To reset your password, open Settings and choose Security. A reset link is emailed to you and works for one hour.

## Billing

The Pro plan costs 8 euros a month.
`;

const FAQ = `- question: Can I use Acme offline?
  alternatives: [does it work without internet]
  answer: Yes. Notes you opened recently stay available offline.
`;

async function boot(extraConfig = '', env: Record<string, string> = {}) {
  const { dir, cleanup } = tempDir('pincer-kb-e2e-');
  mkdirSync(path.join(dir, 'knowledge'));
  writeFileSync(path.join(dir, 'knowledge', 'guide.md'), GUIDE);
  writeFileSync(path.join(dir, 'knowledge', 'faq.yaml'), FAQ);
  if (extraConfig) writeFileSync(path.join(dir, 'pincer.config.yaml'), extraConfig);
  const pincer = await Pincer.create({ config: testConfig(dir, { PINCER_PLUGINS_ENABLED: 'commands,sentiment,language,translation', ...env }), logDestination: new LogCapture(), env: {} });
  const url = await pincer.start();
  // The first scan runs in the background: wait until both files are indexed.
  await eventually(() => getJson(`${url}/v1/admin/kb/sources`), (r) => (r.body.sources as Array<{ status: string }>).filter((s) => s.status === 'indexed').length === 2, 10_000, 'the first scan');
  const ask = async (text: string) => (await postJson(`${url}/v1/messages?wait=10`, { text })).body.reply as { text: string; responder: string; data: Record<string, unknown> };
  return { pincer, url, dir, ask, close: async () => (await pincer.close(), cleanup()) };
}

describe('the knowledge base with the built-in model', () => {
  let b: Awaited<ReturnType<typeof boot>>;
  beforeAll(async () => {
    b = await boot();
  });
  afterAll(async () => {
    await b?.close();
  });

  it('answers from the documents with a citation', async () => {
    const reply = await b.ask('How do I reset my password?');
    expect(reply.responder).toBe('knowledge');
    expect(reply.text).toContain('open Settings and choose Security');
    expect(reply.text).toMatch(/\[1\] Acme guide › Passwords \(line \d+\)$/);
    expect(reply.data['citations']).toEqual([expect.objectContaining({ n: 1, source: 'kb:guide.md', heading: 'Acme guide › Passwords' })]);
    const faq = await b.ask('does it work without internet?');
    expect(faq.text).toContain('Notes you opened recently stay available offline.');
  });

  it('leaves a question the documents do not cover to the built-in model, and lists it as unanswered', async () => {
    const reply = await b.ask('How do I reset my router?');
    expect(reply.responder).not.toBe('knowledge');
    expect(reply.data['citations']).toBeUndefined();
    const unanswered = await eventually(() => getJson(`${b.url}/v1/admin/kb/unanswered`), (r) => r.body.questions.length > 0, 5_000, 'the unanswered log');
    expect(unanswered.body.questions[0]).toMatchObject({ query: 'How do I reset my router?', count: 1 });
  });

  it('shows what retrieval returns, takes uploads, and removes sources', async () => {
    const search = await getJson(`${b.url}/v1/admin/kb/search?q=${encodeURIComponent('pro plan price')}`);
    expect(search.status).toBe(200);
    expect(search.body.hits[0]).toMatchObject({ source: 'kb:guide.md', headingPath: ['Acme guide', 'Billing'], lexicalRank: 1 });
    expect(search.body.answerable).toBe(search.body.confidence >= 0.55);

    const uploaded = await postJson(`${b.url}/v1/admin/kb/sources`, { name: 'extra/shipping.md', content: '# Shipping\n\nParcels leave the warehouse within two working days.\n' });
    expect(uploaded.status).toBe(200);
    expect(uploaded.body).toMatchObject({ status: 'indexed', source: { uri: 'kb:extra/shipping.md', chunks: 1 } });
    expect((await b.ask('when do parcels leave the warehouse?')).text).toContain('within two working days');

    const bad = await postJson(`${b.url}/v1/admin/kb/sources`, { name: 'notes.exe', content: 'x' });
    expect(bad.status).toBe(415);
    expect(bad.body.error.code).toBe('KB_FORMAT_UNSUPPORTED');
    expect((await postJson(`${b.url}/v1/admin/kb/sources`, { name: '../../etc/passwd.md', content: 'x' })).body.error.code).toBe('KB_SOURCE_INVALID');
    expect((await postJson(`${b.url}/v1/admin/kb/sources`, {})).body.error.code).toBe('KB_SOURCE_INVALID');

    const removed = await fetch(`${b.url}/v1/admin/kb/sources/${uploaded.body.source.id}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    expect((await fetch(`${b.url}/v1/admin/kb/sources/${uploaded.body.source.id}`, { method: 'DELETE' })).status).toBe(404);
    const reindexed = (await (await fetch(`${b.url}/v1/admin/kb/reindex`, { method: 'POST' })).json()) as { report: Record<string, number> };
    expect(reindexed.report).toMatchObject({ removed: 0, failed: 0, unchanged: 2 });
  });
});

describe('the knowledge base with a language model', () => {
  let fake: FakeLlm;
  let b: Awaited<ReturnType<typeof boot>>;
  beforeAll(async () => {
    fake = await FakeLlm.start();
    b = await boot(`models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }\nmemory: { enabled: false }\n`);
  });
  afterAll(async () => {
    await b?.close();
    await fake?.close();
  });

  it('gives the model the numbered passages and the rule to answer only from them, and offers kb_search', async () => {
    await b.ask('How do I reset my password? [1] [9]');
    const request = fake.requests.filter((r) => r.path.endsWith('/chat/completions')).at(-1)!.body as { messages: Array<{ role: string; content: string }>; tools?: Array<{ function: { name: string } }> };
    const passages = request.messages.find((m) => m.role === 'system' && m.content.includes('using only the passages'));
    expect(passages?.content).toContain('[1] (Acme guide › Passwords');
    expect(request.tools?.map((t) => t.function.name)).toContain('kb_search');
  });

  it("keeps only citations of passages the model was given", async () => {
    // The fake echoes the user's text: "[1]" names a given passage, "[9]" none.
    const reply = await b.ask('How do I reset my password? [1] [9]');
    expect(reply.text).toContain('[1]');
    expect(reply.text).not.toContain('[9]');
    expect(reply.data['citations']).toEqual([expect.objectContaining({ n: 1, source: 'kb:guide.md' })]);
  });
});
