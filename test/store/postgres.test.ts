import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresQueue } from '../../src/store/postgres/queue.js';
import { SCHEMA_VERSION, migrate } from '../../src/store/postgres/schema.js';
import type { ClaimedMessage, Queue, QueueOptions } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';
import { adminPool, dropSchema, freshSchema, PG_URL, storeUrl } from '../support/postgres.js';
import { describeQueueConformance, msg, type QueueFactory } from './conformance.js';
import { describeOutboxConformance } from './channel-conformance.js';
import { describeLeaseAndPairingConformance } from './lease-pairing-conformance.js';
import { describeAgentConformance } from './agent-conformance.js';
import { describeReceiptConformance } from './receipt-conformance.js';
import { describeMemoryConformance } from './memory-conformance.js';
import { describeKnowledgeConformance, kbChunk } from './knowledge-conformance.js';

/**
 * Runs against a real PostgreSQL (PINCER_TEST_POSTGRES_URL or PINCER_TEST_POSTGRES, default the local test database).
 * Every test gets its own schema, dropped afterwards. When PostgreSQL is unreachable the tests
 * fail with a message saying so; they are never skipped.
 */
const factory: QueueFactory = async (options) => {
  const schema = await freshSchema();
  const url = storeUrl(schema);
  let queue = await PostgresQueue.open(url, options);
  return {
    get queue() {
      return queue;
    },
    async reopen() {
      await queue.close();
      queue = await PostgresQueue.open(url, options);
      return queue;
    },
    async destroy() {
      await queue.close();
      await dropSchema(schema);
    },
  };
};
describeQueueConformance('postgres', factory);
describeOutboxConformance('postgres', factory);
describeLeaseAndPairingConformance('postgres', factory);
describeReceiptConformance('postgres', factory);
describeAgentConformance('postgres', factory);
describeMemoryConformance('postgres', factory);
describeKnowledgeConformance('postgres', factory);

const reply = { analysis: {}, reply: { text: 'ok', responder: 't' } };

/** Resolves on the next onWork call of `queue`. */
function nextWake(queue: Queue): Promise<void> {
  return new Promise((resolve) => {
    const off = queue.onWork(() => {
      off();
      resolve();
    });
  });
}

describe('PostgresQueue across nodes', () => {
  let schema: string;
  let clock: ManualClock;
  const opened: PostgresQueue[] = [];
  const open = async (overrides: Partial<QueueOptions> = {}, extra = ''): Promise<PostgresQueue> => {
    const queue = await PostgresQueue.open(storeUrl(schema, extra), queueOptions({ now: clock.now, ...overrides }));
    opened.push(queue);
    return queue;
  };
  const twoNodes = async (overrides: Partial<QueueOptions> = {}): Promise<[PostgresQueue, PostgresQueue]> => {
    schema = await freshSchema();
    clock = new ManualClock();
    return [await open(overrides), await open(overrides)];
  };

  afterEach(async () => {
    for (const queue of opened.splice(0)) await queue.close();
    if (schema) await dropSchema(schema);
  });

  it('fails with a clear error when PostgreSQL is unreachable', async () => {
    const error = await PostgresQueue.open('postgres://postgres@127.0.0.1:1/test?schema=nowhere', queueOptions()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/127\.0\.0\.1:1.*ECONNREFUSED/);
  });

  it('isolates an item PostgreSQL itself refuses: the rest of its batch commits', async () => {
    const [a] = await twoNodes();
    // Too large for the idempotency key's B-tree (SQLSTATE 54000), and random, so it does not compress.
    const tooLarge = randomBytes(6000).toString('hex');
    const requests = Array.from({ length: 21 }, (_, i) => (i === 10 ? msg('big', 'refused', { idempotencyKey: tooLarge }) : msg(`c${i}`, `ok ${i}`, { idempotencyKey: `k${i}` })));
    const settled = await Promise.allSettled(requests.map((r) => a.enqueue(r)));
    expect(settled[10]).toMatchObject({ status: 'rejected', reason: { code: 'MESSAGE_REJECTED', statusCode: 400 } });
    const good = settled.filter((o, i) => i !== 10);
    expect(good.every((o) => o.status === 'fulfilled')).toBe(true);
    expect((await a.stats()).depth).toBe(20);
    expect(await a.claim(50)).toHaveLength(20);
  });

  it('replaces one knowledge source from two nodes at once without doubling its chunks, and both see the generation move', async () => {
    const [a, b] = await twoNodes();
    const g0 = await b.knowledge.generation();
    const first = await a.knowledge.replaceSource({ uri: 'kb.md', title: 'KB', format: 'markdown', sha256: '1', bytes: 1 }, [kbChunk(0, 'shared words'), kbChunk(1, 'old words')]);
    expect(await b.knowledge.generation()).toBeGreaterThan(g0);
    const [stale] = await b.knowledge.chunksWithoutVector('m', 10);
    const next = [kbChunk(0, 'shared words'), kbChunk(1, 'new words')];
    const [ra, rb] = await Promise.all([
      a.knowledge.replaceSource({ uri: 'kb.md', title: 'KB', format: 'markdown', sha256: '2', bytes: 1 }, next),
      b.knowledge.replaceSource({ uri: 'kb.md', title: 'KB', format: 'markdown', sha256: '2', bytes: 1 }, next),
      // A vector for a chunk one of them removes: written before the removal or dropped, never an error.
      b.knowledge.putVectors('m', [{ chunkId: stale!.chunkId, vector: Float32Array.from([1]) }]),
    ]);
    expect(ra.source.id).toBe(first.source.id);
    expect(rb.source.id).toBe(first.source.id);
    expect([ra.added + rb.added, ra.kept + rb.kept]).toEqual([1, 3]); // the second to commit found the first's chunks
    const ids = (await b.knowledge.searchLexical(['words'], 10)).map((h) => h.chunkId);
    expect((await a.knowledge.getChunks(ids)).map((c) => c.text).sort()).toEqual(['new words', 'shared words']);
    expect((await a.knowledge.getSource('kb.md'))?.chunks).toBe(2);
    expect((await a.knowledge.vectors('m')).every((v) => ids.includes(v.chunkId))).toBe(true);
  });

  it('never hands one message to two nodes claiming concurrently', async () => {
    const [a, b] = await twoNodes();
    const total = 300;
    await Promise.all(Array.from({ length: total }, (_, i) => (i % 2 ? a : b).enqueue(msg(`c${i}`, `m${i}`))));
    const seen = new Map<string, string>();
    const duplicates: string[] = [];
    const worker = async (node: PostgresQueue, name: string) => {
      for (;;) {
        const batch = await node.claim(7);
        if (batch.length === 0) return;
        for (const m of batch) {
          if (seen.has(m.id)) duplicates.push(m.id);
          seen.set(m.id, name);
        }
        const results = await Promise.all(batch.map((m) => node.complete(m, reply)));
        expect(results.every(Boolean)).toBe(true);
      }
    };
    await Promise.all([worker(a, 'a'), worker(b, 'b'), worker(a, 'a2'), worker(b, 'b2')]);
    expect(duplicates).toEqual([]);
    expect(seen.size).toBe(total);
    const names = new Set(seen.values());
    expect(names.has('a') || names.has('a2')).toBe(true);
    expect(names.has('b') || names.has('b2')).toBe(true);
    expect((await a.stats()).byState.done).toBe(total);
  });

  it('holds per-conversation order when two nodes claim concurrently', async () => {
    const [a, b] = await twoNodes();
    const conversations = 6;
    const perConversation = 12;
    // Enqueued from both nodes, in order per conversation.
    for (let n = 0; n < perConversation; n++) {
      await Promise.all(Array.from({ length: conversations }, (_, c) => (n % 2 ? a : b).enqueue(msg(`conv${c}`, String(n)))));
    }
    const total = conversations * perConversation;
    const inFlight = new Set<string>();
    const order = new Map<string, number[]>();
    const violations: string[] = [];
    let finished = 0;
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const handle = async (node: PostgresQueue, m: ClaimedMessage) => {
      if (inFlight.has(m.conversationId)) violations.push(`${m.conversationId} claimed twice at once`);
      inFlight.add(m.conversationId);
      order.set(m.conversationId, [...(order.get(m.conversationId) ?? []), Number(m.text)]);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight.delete(m.conversationId);
      expect(await node.complete(m, reply)).toBe(true);
      if (++finished === total) allDone();
    };
    const worker = async (node: PostgresQueue) => {
      while (finished < total) {
        const woken = nextWake(node);
        const batch = await node.claim(3);
        if (batch.length === 0) {
          await Promise.race([woken, done]);
          continue;
        }
        await Promise.all(batch.map((m) => handle(node, m)));
      }
    };
    await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
    expect(violations).toEqual([]);
    for (let c = 0; c < conversations; c++) expect(order.get(`conv${c}`)).toEqual(Array.from({ length: perConversation }, (_, i) => i));
  });

  it('maps an idempotency key enqueued concurrently on both nodes to one message', async () => {
    const [a, b] = await twoNodes();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).enqueue(msg(`c${i % 5}`, 'x', { idempotencyKey: `key-${Math.floor(i / 2)}` }))),
    );
    for (let k = 0; k < 20; k++) {
      const pair = results.filter((_, i) => Math.floor(i / 2) === k);
      expect(new Set(pair.map((r) => r.id)).size).toBe(1);
      expect(pair.filter((r) => !r.duplicate)).toHaveLength(1);
    }
    const { rows } = await (await adminPool()).query(`SELECT count(*)::int AS n FROM "${schema}".messages`);
    expect(rows[0].n).toBe(20);
    expect((await a.stats()).depth).toBe(20);
  });

  it('re-delivers to node B a lease taken by node A that expired', async () => {
    const [a, b] = await twoNodes();
    const { id } = await a.enqueue(msg('c1'));
    const [first] = await a.claim(1);
    expect(first!.id).toBe(id);
    expect(await b.claim(1)).toEqual([]);
    clock.advance(30_001);
    const [second] = await b.claim(1);
    expect(second).toMatchObject({ id, attempts: 2, lease: first!.lease + 1 });
    expect(await a.complete(first!, reply)).toBe(false);
    expect(await a.extendLeases([first!])).toEqual([id]);
    expect(await b.complete(second!, { analysis: {}, reply: { text: 'from b', responder: 't' } })).toBe(true);
    expect((await a.get(id))!.reply!.text).toBe('from b');
  });

  it("wakes node B's workers by NOTIFY when node A enqueues or finishes a head", async () => {
    const [a, b] = await twoNodes();
    let woken = nextWake(b);
    await a.enqueue(msg('c1', 'one'));
    await woken;
    await a.enqueue(msg('c1', 'two'));
    const [m] = await a.claim(1);
    woken = nextWake(b);
    await a.complete(m!, reply); // promotes 'two' to head
    await woken;
    const [next] = await b.claim(1);
    expect(next!.text).toBe('two');
  });

  it('falls back to polling while the LISTEN connection is down, then reconnects', async () => {
    schema = await freshSchema();
    clock = new ManualClock();
    const a = await open();
    const b = await open({}, '&poll=20');
    expect(b.listening).toBe(true);
    const pool = await adminPool();
    const { rows } = await pool.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [`pincer-listen:${b.nodeId}`]);
    expect(rows).toEqual([{ ok: true }]);
    // Nothing is enqueued: only the fallback poll can wake B now.
    await nextWake(b);
    await b.whenListening();
    expect(b.listening).toBe(true);
    const woken = nextWake(b);
    await a.enqueue(msg('c1'));
    await woken;
  });

  it('keeps one depth for the cluster', async () => {
    const [a, b] = await twoNodes({ maxLength: 10, maxLengthCap: 10 });
    for (let i = 0; i < 6; i++) await a.enqueue(msg(`a${i}`));
    for (let i = 0; i < 4; i++) await b.enqueue(msg(`b${i}`));
    expect((await a.stats()).depth).toBe(10);
    const [m] = await b.claim(1);
    await b.complete(m!, reply);
    expect((await a.stats()).depth).toBe(9);
    await a.enqueue(msg('fits'));
    await expect(b.enqueue(msg('over'))).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  });

  it('migrates a fresh schema exactly once when three nodes start at once', async () => {
    schema = await freshSchema();
    clock = new ManualClock();
    const nodes = await Promise.all([open(), open(), open()]);
    expect(nodes).toHaveLength(3);
    const pool = await adminPool();
    const { rows } = await pool.query(`SELECT version, count(*)::int AS n FROM "${schema}".pincer_schema_migrations GROUP BY version ORDER BY version`);
    expect(rows).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1, n: 1 })));
    // The same race at the level of migrate(): exactly one caller applies each version.
    const other = await freshSchema();
    const clients = [0, 1, 2].map(() => new pg.Client({ connectionString: PG_URL }));
    try {
      await Promise.all(clients.map((c) => c.connect()));
      const applied = await Promise.all(clients.map((c) => migrate(c, other, Date.now)));
      expect(applied.flat().sort()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await dropSchema(other);
    }
  });

  it('refuses a schema written by a newer Pincer', async () => {
    schema = await freshSchema();
    clock = new ManualClock();
    await (await open()).close();
    await (await adminPool()).query(`INSERT INTO "${schema}".pincer_schema_migrations VALUES (99, 'future', 0)`);
    await expect(open()).rejects.toThrow(/newer Pincer/);
  });
});
