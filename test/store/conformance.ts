import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QueueFullError } from '../../src/errors.js';
import type { EnqueueRequest, JsonObject, JsonValue, Queue, QueueOptions } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';

export interface QueueHarness {
  queue: Queue;
  /** Close and open the same store again (a restart). */
  reopen(): Promise<Queue>;
  destroy(): Promise<void>;
}

export type QueueFactory = (options: QueueOptions) => Promise<QueueHarness>;

/** A message to enqueue, with the fields the suites do not care about filled in. */
export const msg = (conversationId: string, text = 'hi', extra: Partial<EnqueueRequest> = {}): EnqueueRequest => ({
  text,
  conversationId,
  channel: 'test',
  priority: 'normal',
  ...extra,
});

/**
 * What every queue backend must do. Time is driven by a manual clock, so retries and lease
 * expiry are tested without waiting.
 */
export function describeQueueConformance(backend: string, factory: QueueFactory): void {
  describe(`Queue conformance: ${backend}`, () => {
    let clock: ManualClock;
    let harness: QueueHarness;
    let queue: Queue;
    const open = async (overrides: Partial<QueueOptions> = {}) => {
      await harness?.destroy();
      harness = await factory(queueOptions({ now: clock.now, ...overrides }));
      queue = harness.queue;
    };

    beforeEach(async () => {
      clock = new ManualClock();
      harness = undefined as unknown as QueueHarness;
      await open();
    });
    afterEach(async () => {
      await harness.destroy();
    });

    it('stores a message and returns it as queued', async () => {
      const result = await queue.enqueue(msg('c1', 'hello', { sender: 'ann', metadata: { k: 'v' } }));
      expect(result).toMatchObject({ conversationId: 'c1', status: 'queued', duplicate: false });
      const record = await queue.get(result.id);
      expect(record).toMatchObject({ id: result.id, text: 'hello', sender: 'ann', state: 'queued', attempts: 0, metadata: { k: 'v' }, reply: null });
      expect(await queue.get('no-such-id')).toBeUndefined();
    });

    it('keeps messages across a restart', async () => {
      const a = await queue.enqueue(msg('c1', 'one'));
      const b = await queue.enqueue(msg('c2', 'two'));
      const [claimed] = await queue.claim(1);
      await queue.complete(claimed!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      queue = await harness.reopen();
      expect((await queue.get(a.id))?.state).toBe('done');
      expect((await queue.get(b.id))?.state).toBe('queued');
      expect((await queue.claim(5)).map((m) => m.id)).toEqual([b.id]);
    });

    it('claims with a lease and completes with a reply', async () => {
      const { id } = await queue.enqueue(msg('c1'));
      const [claimed] = await queue.claim(10);
      expect(claimed).toMatchObject({ id, state: 'processing', attempts: 1 });
      expect(claimed!.leaseUntil).toBe(clock.time + 30_000);
      expect(await queue.claim(10)).toEqual([]);
      expect(await queue.complete(claimed!, { analysis: { lang: 'en' }, reply: { text: 'hey', responder: 'test' } })).toBe(true);
      const done = await queue.get(id);
      expect(done).toMatchObject({ state: 'done', reply: { text: 'hey', responder: 'test' }, analysis: { lang: 'en' } });
      expect(done!.finishedAt).toBe(clock.time);
      // A second ack of the same lease is refused: the message is answered once.
      expect(await queue.complete(claimed!, { analysis: {}, reply: { text: 'again', responder: 'test' } })).toBe(false);
      expect((await queue.get(id))!.reply!.text).toBe('hey');
    });

    it('retries a failure after retry_delay with backoff, then dead-letters it', async () => {
      const { id } = await queue.enqueue(msg('c1'));
      let [m] = await queue.claim(1);
      expect(await queue.fail(m!, { error: 'boom 1' })).toBe('retry');
      let record = await queue.get(id);
      expect(record).toMatchObject({ state: 'failed', lastError: 'boom 1', attempts: 1 });
      const firstDelay = record!.availableAt - clock.time;
      expect(firstDelay).toBeGreaterThanOrEqual(4_500);
      expect(firstDelay).toBeLessThanOrEqual(5_500);
      expect(await queue.claim(1)).toEqual([]);
      expect(await queue.nextDueAt()).toBe(record!.availableAt);

      clock.advance(firstDelay);
      [m] = await queue.claim(1);
      expect(m).toMatchObject({ id, attempts: 2 });
      expect(await queue.fail(m!, { error: 'boom 2' })).toBe('retry');
      record = await queue.get(id);
      const secondDelay = record!.availableAt - clock.time;
      expect(secondDelay).toBeGreaterThanOrEqual(9_000);
      expect(secondDelay).toBeLessThanOrEqual(11_000);

      clock.advance(secondDelay);
      [m] = await queue.claim(1);
      expect(await queue.fail(m!, { error: 'boom 3' })).toBe('dead');
      expect(await queue.get(id)).toMatchObject({ state: 'dead', attempts: 3, lastError: 'boom 3' });
      clock.advance(3_600_000);
      expect(await queue.claim(1)).toEqual([]);
      expect((await queue.listDead({ limit: 10 })).map((d) => d.id)).toEqual([id]);
      const stats = await queue.stats();
      expect(stats.byState.dead).toBe(1);
      expect(stats.depth).toBe(0);
    });

    it('dead-letters at once a failure marked not retryable, keeping the analysis', async () => {
      const { id } = await queue.enqueue(msg('c1'));
      const [m] = await queue.claim(1);
      expect(await queue.fail(m!, { error: 'bad input', retryable: false, analysis: { sentiment: 0.5 } })).toBe('dead');
      expect(await queue.get(id)).toMatchObject({ state: 'dead', attempts: 1, analysis: { sentiment: 0.5 } });
    });

    it('retries dead letters by hand with fresh attempts', async () => {
      await open({ maxAttempts: 1 });
      const a = await queue.enqueue(msg('c1', 'a'));
      const b = await queue.enqueue(msg('c2', 'b'));
      for (const m of await queue.claim(2)) await queue.fail(m, { error: 'nope' });
      expect((await queue.listDead({ limit: 10 })).length).toBe(2);
      expect(await queue.retryDead([a.id, 'unknown-id'])).toBe(1);
      expect(await queue.get(a.id)).toMatchObject({ state: 'queued', attempts: 0 });
      expect(await queue.retryDead('all')).toBe(1);
      const claimed = await queue.claim(5);
      expect(claimed.map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
      expect(await queue.retryDead('all')).toBe(0);
    });

    it('re-delivers a message whose lease expired, and fences out the stale worker', async () => {
      const { id } = await queue.enqueue(msg('c1'));
      const [first] = await queue.claim(1);
      clock.advance(29_000);
      expect(await queue.claim(1)).toEqual([]);
      clock.advance(2_000);
      const [second] = await queue.claim(1);
      expect(second).toMatchObject({ id, attempts: 2 });
      expect(second!.lease).not.toBe(first!.lease);
      expect(await queue.complete(first!, { analysis: {}, reply: { text: 'stale', responder: 't' } })).toBe(false);
      expect(await queue.fail(first!, { error: 'stale' })).toBe('stale');
      expect(await queue.extendLeases([first!])).toEqual([id]);
      expect(await queue.complete(second!, { analysis: {}, reply: { text: 'fresh', responder: 't' } })).toBe(true);
      expect((await queue.get(id))!.reply!.text).toBe('fresh');
    });

    it('keeps a lease alive while it is extended', async () => {
      const { id } = await queue.enqueue(msg('c1'));
      const [m] = await queue.claim(1);
      for (let i = 0; i < 5; i++) {
        clock.advance(20_000);
        expect(await queue.extendLeases([m!])).toEqual([]);
        expect(await queue.claim(1)).toEqual([]);
      }
      expect(await queue.complete(m!, { analysis: {}, reply: { text: 'ok', responder: 't' } })).toBe(true);
      expect((await queue.get(id))!.attempts).toBe(1);
    });

    it('dead-letters a message whose lease expired on its last attempt', async () => {
      await open({ maxAttempts: 2 });
      const deadLetters: Array<{ id: string; attempts: number }> = [];
      queue.onDeadLetter((e) => deadLetters.push({ id: e.id, attempts: e.attempts }));
      const { id } = await queue.enqueue(msg('c1'));
      await queue.claim(1);
      clock.advance(31_000);
      await queue.claim(1);
      clock.advance(31_000);
      expect(await queue.claim(1)).toEqual([]);
      expect(deadLetters).toEqual([{ id, attempts: 2 }]);
      await queue.synced();
      const dead = await queue.get(id);
      expect(dead).toMatchObject({ state: 'dead', attempts: 2 });
      expect(dead!.lastError).toMatch(/lease expired/);
    });

    it('keeps arrival order when an older dead letter is retried', async () => {
      await open({ maxAttempts: 1 });
      const a = await queue.enqueue(msg('A', 'a'));
      const [claimedA] = await queue.claim(1);
      expect(await queue.fail(claimedA!, { error: 'x' })).toBe('dead');
      const b = await queue.enqueue(msg('A', 'b'));
      const c = await queue.enqueue(msg('A', 'c'));
      // b is the head and waiting; reviving the older a makes a the head again.
      expect(await queue.retryDead([a.id])).toBe(1);
      const order: string[] = [];
      for (let i = 0; i < 3; i++) {
        const claimed = await queue.claim(10);
        expect(claimed).toHaveLength(1);
        order.push(claimed[0]!.id);
        await queue.complete(claimed[0]!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      }
      expect(order).toEqual([a.id, b.id, c.id]);
    });

    it('releases a message at shutdown without counting the attempt', async () => {
      const { id } = await queue.enqueue(msg('c1'));
      const [m] = await queue.claim(1);
      await queue.release(m!);
      expect(await queue.get(id)).toMatchObject({ state: 'queued', attempts: 0 });
      const [again] = await queue.claim(1);
      expect(again).toMatchObject({ id, attempts: 1 });
      expect(await queue.complete(m!, { analysis: {}, reply: { text: 'x', responder: 't' } })).toBe(false);
    });

    it('claims high before normal before low', async () => {
      const low = await queue.enqueue(msg('a', 'low', { priority: 'low' }));
      const normal = await queue.enqueue(msg('b', 'normal', { priority: 'normal' }));
      const high = await queue.enqueue(msg('c', 'high', { priority: 'high' }));
      clock.advance(1);
      const normal2 = await queue.enqueue(msg('d', 'normal2', { priority: 'normal' }));
      expect((await queue.claim(10)).map((m) => m.id)).toEqual([high.id, normal.id, normal2.id, low.id]);
    });

    it('never starves low priority: an old low message outranks new high ones', async () => {
      const low = await queue.enqueue(msg('low-conv', 'low', { priority: 'low' }));
      // A steady stream of high-priority work keeps arriving and being served.
      for (let second = 0; second < 59; second++) {
        clock.advance(1_000);
        await queue.enqueue(msg(`h${second}`, 'high', { priority: 'high' }));
        const [m] = await queue.claim(1);
        expect(m!.priority).toBe('high');
        await queue.complete(m!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      }
      clock.advance(2_000);
      await queue.enqueue(msg('late-high', 'high', { priority: 'high' }));
      const [next] = await queue.claim(1);
      expect(next!.id).toBe(low.id);
    });

    it('handles a conversation one message at a time, in arrival order', async () => {
      const a1 = await queue.enqueue(msg('A', 'a1'));
      const a2 = await queue.enqueue(msg('A', 'a2', { priority: 'high' }));
      const a3 = await queue.enqueue(msg('A', 'a3'));
      const b1 = await queue.enqueue(msg('B', 'b1'));
      const first = await queue.claim(10);
      expect(first.map((m) => m.id).sort()).toEqual([a1.id, b1.id].sort());
      expect(await queue.claim(10)).toEqual([]);

      // A failed head blocks the rest of its conversation until it is done or dead.
      const a1Claim = first.find((m) => m.id === a1.id)!;
      expect(await queue.fail(a1Claim, { error: 'transient' })).toBe('retry');
      clock.advance(1_000);
      expect(await queue.claim(10)).toEqual([]);
      clock.advance(10_000);
      const [retried] = await queue.claim(10);
      expect(retried!.id).toBe(a1.id);
      await queue.complete(retried!, { analysis: {}, reply: { text: 'r', responder: 't' } });

      const [second] = await queue.claim(10);
      expect(second!.id).toBe(a2.id);
      await queue.complete(second!, { analysis: {}, reply: { text: 'r', responder: 't' } });
      const [third] = await queue.claim(10);
      expect(third!.id).toBe(a3.id);

      const history = await queue.conversation('A', { limit: 10 });
      expect(history.map((m) => m.text)).toEqual(['a1', 'a2', 'a3']);
      expect((await queue.latest('A', 2)).map((m) => m.text)).toEqual(['a2', 'a3']);
      expect(await queue.latest('nobody', 5)).toEqual([]);
    });

    it('moves a conversation on when its head dies', async () => {
      await open({ maxAttempts: 1 });
      const a1 = await queue.enqueue(msg('A', 'a1'));
      const a2 = await queue.enqueue(msg('A', 'a2'));
      const [m] = await queue.claim(10);
      expect(m!.id).toBe(a1.id);
      expect(await queue.fail(m!, { error: 'x' })).toBe('dead');
      expect((await queue.claim(10)).map((c) => c.id)).toEqual([a2.id]);
    });

    it('maps one idempotency key to one message, even within one batch', async () => {
      const first = await queue.enqueue(msg('c1', 'once', { idempotencyKey: 'key-1' }));
      const again = await queue.enqueue(msg('c1', 'once', { idempotencyKey: 'key-1' }));
      expect(again).toMatchObject({ id: first.id, duplicate: true });
      const concurrent = await Promise.all(Array.from({ length: 20 }, () => queue.enqueue(msg('c2', 'x', { idempotencyKey: 'key-2' }))));
      expect(new Set(concurrent.map((r) => r.id)).size).toBe(1);
      expect(concurrent.filter((r) => !r.duplicate)).toHaveLength(1);
      expect((await queue.stats()).enqueued).toBe(2);
      const claimed = await queue.claim(10);
      expect(claimed).toHaveLength(2);
      await queue.complete(claimed[0]!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      const replay = await queue.enqueue(msg('c1', 'once', { idempotencyKey: 'key-1' }));
      expect(replay.id).toBe(first.id);
      expect(await queue.claim(10)).toEqual([]);
    });

    it('grows its limit by 20 % past 80 % full (S5.2) and refuses past the cap', async () => {
      await open({ maxLength: 10, maxLengthCap: 15 });
      for (let i = 0; i < 8; i++) await queue.enqueue(msg(`c${i}`));
      expect((await queue.stats()).limit).toBe(10);
      await queue.enqueue(msg('c8'));
      let stats = await queue.stats();
      expect(stats.limit).toBe(12);
      expect(stats.growths).toBe(1);
      for (let i = 9; i < 15; i++) await queue.enqueue(msg(`c${i}`));
      stats = await queue.stats();
      expect(stats.limit).toBe(15);
      expect(stats.depth).toBe(15);
      const rejected = await queue.enqueue(msg('over')).catch((e: unknown) => e);
      expect(rejected).toBeInstanceOf(QueueFullError);
      expect((rejected as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect((await queue.stats()).rejected).toBe(1);
      // Room again once work drains.
      const [m] = await queue.claim(1);
      await queue.complete(m!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      await expect(queue.enqueue(msg('fits'))).resolves.toMatchObject({ status: 'queued' });
    });

    it('reports depth by state and priority', async () => {
      await queue.enqueue(msg('a', 'x', { priority: 'high' }));
      await queue.enqueue(msg('b', 'x', { priority: 'low' }));
      await queue.enqueue(msg('c', 'x'));
      const [m] = await queue.claim(1);
      const stats = await queue.stats();
      expect(m!.priority).toBe('high');
      expect(stats).toMatchObject({ depth: 3, byState: { queued: 2, processing: 1, done: 0, dead: 0, failed: 0 }, byPriority: { high: 0, normal: 1, low: 1 } });
      expect(stats.oldestQueuedAgeMs).toBe(0);
    });

    it('wakes listeners when work arrives', async () => {
      let wakes = 0;
      const off = queue.onWork(() => wakes++);
      await queue.enqueue(msg('c1'));
      expect(wakes).toBeGreaterThan(0);
      off();
      const before = wakes;
      await queue.enqueue(msg('c2'));
      expect(wakes).toBe(before);
    });

    it('refuses a hostile item alone: its neighbours in the same batches commit', async () => {
      const deep = nested(5_000);
      const huge = { blob: 'x'.repeat(70_000) };
      const hostile: Array<[EnqueueRequest, string]> = [
        [msg('h1', 'deep', { metadata: deep }), 'METADATA_TOO_DEEP'],
        [msg('h2', 'huge', { metadata: huge }), 'METADATA_TOO_LARGE'],
        [msg('h3', 'nul \u0000 in text'), 'MESSAGE_INVALID'],
        [msg('h4', 'deep array', { metadata: { list: nestedArray(40) } }), 'METADATA_TOO_DEEP'],
      ];
      // Interleaved, and all submitted in one turn so they share group commits.
      const requests = Array.from({ length: 60 }, (_, i) => (i % 12 === 5 ? hostile[((i / 12) | 0) % hostile.length]! : ([msg(`good-${i}`, `hello ${i}`, { metadata: { n: i } }), undefined] as const)));
      const settled = await Promise.allSettled(requests.map(([request]) => queue.enqueue(request)));
      settled.forEach((outcome, i) => {
        const code = requests[i]![1];
        if (code === undefined) expect(outcome.status, `good item ${i}`).toBe('fulfilled');
        else {
          expect(outcome.status, `hostile item ${i}`).toBe('rejected');
          expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code, statusCode: 400 });
        }
      });
      const good = settled.filter((o): o is PromiseFulfilledResult<Awaited<ReturnType<Queue['enqueue']>>> => o.status === 'fulfilled');
      expect(good).toHaveLength(55);
      for (const { value } of good) expect((await queue.get(value.id))?.state).toBe('queued');
      expect((await queue.stats()).depth).toBe(55);
    });

    it('stores text a jsonb column would refuse (U+0000, lone surrogates) as U+FFFD, alike on every backend', async () => {
      const { id } = await queue.enqueue(msg('c1', 'hi', { metadata: { lone: 'a\ud800b', nul: 'x\u0000y', pair: '\ud83d\ude00' } }));
      expect((await queue.get(id))?.metadata).toEqual({ lone: 'a\ufffdb', nul: 'x\ufffdy', pair: '\ud83d\ude00' });
      const [claim] = await queue.claim(1);
      expect(await queue.complete(claim!, { analysis: { echo: 'a\udc00' }, reply: { text: 'bad \u0000 reply', responder: 't' } })).toBe(true);
      expect((await queue.get(id))?.reply?.text).toBe('bad \ufffd reply');
    });

    it('fails only its own ack when a completion cannot be serialised', async () => {
      await queue.enqueue(msg('c1'));
      await queue.enqueue(msg('c2'));
      const [a, b] = await queue.claim(2);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const results = await Promise.allSettled([
        queue.complete(a!, { analysis: cyclic as never, reply: { text: 'never', responder: 't' } }),
        queue.complete(b!, { analysis: {}, reply: { text: 'ok', responder: 't' } }),
      ]);
      expect(results[0]).toMatchObject({ status: 'rejected', reason: { code: 'REPLY_UNSTORABLE' } });
      expect(results[1]).toMatchObject({ status: 'fulfilled', value: true });
      // Nested deeper than any store would parse: refused before the transaction too.
      await expect(queue.complete(a!, { analysis: nested(300), reply: { text: 'x', responder: 't' } })).rejects.toMatchObject({ code: 'REPLY_UNSTORABLE' });
      // A failure is still recorded, without the analysis it cannot store.
      expect(await queue.fail(a!, { error: 'bad \u0000 analysis', analysis: nested(300), retryable: false })).toBe('dead');
      expect(await queue.get(a!.id)).toMatchObject({ state: 'dead', lastError: 'bad \ufffd analysis', analysis: {} });
      expect((await queue.get(b!.id))?.state).toBe('done');
    });

    it('purges finished messages past retention and keeps the rest', async () => {
      const old = await queue.enqueue(msg('c1'));
      const [m] = await queue.claim(1);
      await queue.complete(m!, { analysis: {}, reply: { text: 'ok', responder: 't' } });
      clock.advance(10_000);
      const pending = await queue.enqueue(msg('c2'));
      expect(await queue.purge(5_000)).toBe(1);
      expect(await queue.get(old.id)).toBeUndefined();
      expect(await queue.get(pending.id)).toBeDefined();
    });
  });
}

/** `{ a: { a: ... } }`, `levels` objects deep. */
export function nested(levels: number): JsonObject {
  let value: JsonObject = { leaf: true };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

function nestedArray(levels: number): JsonValue {
  let value: JsonValue = [];
  for (let i = 1; i < levels; i++) value = [value];
  return value;
}

/**
 * A fresh queue on a manual clock for every test of the enclosing describe; read them inside
 * tests. `reopen` restarts the store (the same file or schema) and replaces `queue`.
 */
export function freshQueuePerTest(factory: QueueFactory): { readonly queue: Queue; readonly clock: ManualClock; reopen(): Promise<Queue> } {
  let harness: QueueHarness | undefined;
  const current = {
    queue: undefined as unknown as Queue,
    clock: new ManualClock(),
    async reopen() {
      current.queue = await harness!.reopen();
      return current.queue;
    },
  };
  beforeEach(async () => {
    current.clock = new ManualClock();
    harness = await factory(queueOptions({ now: current.clock.now }));
    current.queue = harness.queue;
  });
  afterEach(async () => {
    await harness?.destroy();
    harness = undefined;
  });
  return current;
}
