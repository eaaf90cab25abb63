import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SENDER_LOST_ERROR } from '../../src/store/core/deliveries.js';
import type { DeliveryInsert, Queue, QueueOptions } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';
import { msg, type QueueFactory, type QueueHarness } from './conformance.js';

let made = 0;

/** A delivery to `lane` (`<channel>:<chat>`), with the fields the suites do not care about filled in. */
export const delivery = (lane: string, extra: Partial<DeliveryInsert> = {}): DeliveryInsert => ({
  id: `d${++made}-${lane}`,
  messageId: null,
  channel: lane.split(':')[0]!,
  account: 'bot',
  lane,
  target: { conversation: { kind: 'direct', id: lane } },
  body: { markdown: `to ${lane}` },
  ...extra,
});

const reply = { analysis: {}, reply: { text: 'ok', responder: 't' } };
const ids = (rows: ReadonlyArray<{ id: string }>) => rows.map((r) => r.id);

/**
 * What every backend must do for channels: history-only records, a completion's deliveries in
 * its own transaction, and the outbox (lanes, one in flight per lane, leases, recovery). Time
 * is the manual clock's.
 */
export function describeOutboxConformance(backend: string, factory: QueueFactory): void {
  describe(`Outbox conformance: ${backend}`, () => {
    let clock: ManualClock;
    let harness: QueueHarness | undefined;
    let queue: Queue;
    const open = async (overrides: Partial<QueueOptions> = {}) => {
      await harness?.destroy();
      harness = await factory(queueOptions({ now: clock.now, ...overrides }));
      queue = harness.queue;
    };
    const add = async (...items: DeliveryInsert[]) => {
      await queue.addDeliveries(items);
      return items;
    };

    beforeEach(async () => {
      clock = new ManualClock();
      harness = undefined;
      await open();
    });
    afterEach(async () => {
      await harness?.destroy();
    });

    it('stores a record as done history: never claimed, not in the depth, not blocking its conversation', async () => {
      const first = await queue.enqueue(msg('A', 'first'));
      const record = await queue.enqueue(msg('A', 'chatter', { record: true, idempotencyKey: 'ch:tg:bot:1' }));
      expect(record).toMatchObject({ status: 'done', duplicate: false });
      expect(await queue.get(record.id)).toMatchObject({ state: 'done', reply: null, finishedAt: clock.time, attempts: 0 });
      const recordOnly = await queue.enqueue(msg('B', 'only context', { record: true }));
      const stats = await queue.stats();
      expect(stats.depth).toBe(1);
      expect(stats.byState).toMatchObject({ queued: 1, done: 2 });

      const [claimed] = await queue.claim(10);
      expect(claimed!.id).toBe(first.id);
      expect(await queue.claim(10)).toEqual([]);
      await queue.complete(claimed!, reply);
      const later = await queue.enqueue(msg('A', 'later'));
      // The record is not a head and holds no place in line: the next message is claimed at once.
      expect(ids(await queue.claim(10))).toEqual([later.id]);
      expect((await queue.conversation('A', { limit: 10 })).map((m) => m.text)).toEqual(['first', 'chatter', 'later']);
      expect((await queue.latest('A', 2)).map((m) => m.text)).toEqual(['chatter', 'later']);
      expect((await queue.latest('B', 5)).map((m) => m.id)).toEqual([recordOnly.id]);
    });

    it('dedupes a record by its idempotency key, within a batch and after it, and takes it when the queue is full', async () => {
      await open({ maxLength: 1, maxLengthCap: 1 });
      const concurrent = await Promise.all(Array.from({ length: 6 }, () => queue.enqueue(msg('G', 'seen', { record: true, idempotencyKey: 'ch:tg:bot:7' }))));
      expect(new Set(concurrent.map((r) => r.id)).size).toBe(1);
      expect(concurrent.filter((r) => !r.duplicate)).toHaveLength(1);
      const again = await queue.enqueue(msg('G', 'seen', { record: true, idempotencyKey: 'ch:tg:bot:7' }));
      expect(again).toMatchObject({ id: concurrent[0]!.id, status: 'done', duplicate: true });
      // A message answered earlier under the same key stays what it was.
      await queue.enqueue(msg('G', 'fills the queue'));
      await expect(queue.enqueue(msg('H', 'refused'))).rejects.toMatchObject({ code: 'QUEUE_FULL' });
      await expect(queue.enqueue(msg('H', 'history', { record: true }))).resolves.toMatchObject({ status: 'done' });
      expect((await queue.stats()).depth).toBe(1);
      expect(await queue.conversation('G', { limit: 10 })).toHaveLength(2);
    });

    it("writes a completion's deliveries with it, and wakes delivery listeners once they are stored", async () => {
      const { id } = await queue.enqueue(msg('c1'));
      const [claim] = await queue.claim(1);
      let woken = 0;
      queue.onDeliveries(() => woken++);
      const parts = [delivery('tg:1', { messageId: id }), delivery('tg:1', { messageId: id })];
      expect(await queue.complete(claim!, { ...reply, deliveries: parts })).toBe(true);
      expect(woken).toBeGreaterThan(0);
      const stored = await Promise.all(parts.map((p) => queue.getDelivery(p.id)));
      expect(stored[0]).toMatchObject({ messageId: id, state: 'queued', attempts: 0, nextPart: 0, receipts: [], plan: null, body: parts[0]!.body, target: parts[0]!.target, createdAt: clock.time });
      expect(stored[1]!.seq).toBeGreaterThan(stored[0]!.seq);
      expect(ids(await queue.claimDeliveries(10))).toEqual([parts[0]!.id]);
      queue = await harness!.reopen();
      expect(await queue.getDelivery(parts[1]!.id)).toMatchObject({ state: 'queued' });
    });

    it('writes no deliveries for a completion whose lease was lost, even in a batch with an accepted one', async () => {
      await queue.enqueue(msg('c1'));
      await queue.enqueue(msg('c2'));
      const [stale] = await queue.claim(1);
      clock.advance(30_001);
      const claims = await queue.claim(2);
      const fresh = claims.find((c) => c.id === stale!.id)!;
      const other = claims.find((c) => c.id !== stale!.id)!;
      const lost = delivery('tg:lost');
      const kept = delivery('tg:kept');
      const results = await Promise.all([queue.complete(stale!, { ...reply, deliveries: [lost] }), queue.complete(other, { ...reply, deliveries: [kept] })]);
      expect(results).toEqual([false, true]);
      expect(await queue.getDelivery(lost.id)).toBeUndefined();
      expect(await queue.getDelivery(kept.id)).toMatchObject({ state: 'queued' });
      expect(await queue.complete(fresh, reply)).toBe(true);
    });

    it('refuses a delivery it cannot store with its own caller only, before any transaction', async () => {
      await queue.enqueue(msg('c1'));
      const [claim] = await queue.claim(1);
      await expect(queue.complete(claim!, { ...reply, deliveries: [delivery('tg:1', { lane: 'bad\u0000lane' })] })).rejects.toMatchObject({ code: 'REPLY_UNSTORABLE' });
      expect((await queue.get(claim!.id))?.state).toBe('processing');
      await expect(queue.addDeliveries([delivery('tg:2', { body: { cyclic: 1n as never } })])).rejects.toMatchObject({ code: 'REPLY_UNSTORABLE' });
      expect(await queue.listDeliveries({ limit: 10 })).toEqual([]);
    });

    it('sends a lane one delivery at a time, in order, with a lease', async () => {
      const [a1, a2, a3] = await add(delivery('tg:A'), delivery('tg:A'), delivery('tg:A'));
      const [b1] = await add(delivery('tg:B'));
      const first = await queue.claimDeliveries(10);
      expect(ids(first)).toEqual([a1!.id, b1!.id]);
      expect(first[0]).toMatchObject({ state: 'sending', attempts: 1, leaseUntil: clock.time + 30_000 });
      expect(await queue.claimDeliveries(10)).toEqual([]);
      expect(await queue.updateDelivery(first[0]!, { kind: 'plan', plan: { parts: [{ text: 'x' }] } })).toBe(true);
      expect(await queue.updateDelivery(first[0]!, { kind: 'progress', nextPart: 1, receipts: ['m1'] })).toBe(true);
      // Still sending: the plan and the progress do not end the claim.
      expect(await queue.claimDeliveries(10)).toEqual([]);
      expect(await queue.getDelivery(a1!.id)).toMatchObject({ state: 'sending', plan: { parts: [{ text: 'x' }] }, nextPart: 1, receipts: ['m1'] });
      clock.advance(5);
      expect(await queue.updateDelivery(first[0]!, { kind: 'sent', receipts: ['m1', 'm2'] })).toBe(true);
      expect(await queue.getDelivery(a1!.id)).toMatchObject({ state: 'sent', sentAt: clock.time, receipts: ['m1', 'm2'], lastError: null });
      // The claim is over: a second outcome for it is refused.
      expect(await queue.updateDelivery(first[0]!, { kind: 'dead', error: 'late', errorClass: 'permanent' })).toBe(false);
      const [next] = await queue.claimDeliveries(10);
      expect(next!.id).toBe(a2!.id);
      await queue.updateDelivery(next!, { kind: 'sent', receipts: ['m3'] });
      expect(ids(await queue.claimDeliveries(10))).toEqual([a3!.id]);
    });

    it('gives the attempt back for a 429 and holds the lane until it is due', async () => {
      const [d, behind] = await add(delivery('tg:A'), delivery('tg:A'));
      const [claim] = await queue.claimDeliveries(1);
      expect(await queue.updateDelivery(claim!, { kind: 'rate_limited', availableAt: clock.time + 5_000, error: '429 retry after 5' })).toBe(true);
      expect(await queue.getDelivery(d!.id)).toMatchObject({ state: 'queued', attempts: 0, rateLimited: 1, availableAt: clock.time + 5_000, errorClass: 'rate_limited', lastError: '429 retry after 5' });
      expect(await queue.claimDeliveries(10)).toEqual([]);
      expect(await queue.nextDeliveryDueAt()).toBe(clock.time + 5_000);
      clock.advance(5_000);
      const [again] = await queue.claimDeliveries(10);
      expect(again).toMatchObject({ id: d!.id, attempts: 1, rateLimited: 1 });
      expect(again!.lease).not.toBe(claim!.lease);
      expect(await queue.updateDelivery(claim!, { kind: 'sent', receipts: [] })).toBe(false);
      await queue.updateDelivery(again!, { kind: 'sent', receipts: ['m'] });
      expect(ids(await queue.claimDeliveries(10))).toEqual([behind!.id]);
    });

    it('retries a failed delivery when due, counting attempts, and a release does not count one', async () => {
      const [d, behind] = await add(delivery('tg:A'), delivery('tg:A'));
      let [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'retry', availableAt: clock.time + 25_000, error: 'ECONNREFUSED', errorClass: 'transient' });
      expect(await queue.getDelivery(d!.id)).toMatchObject({ state: 'failed', attempts: 1, errorClass: 'transient', lastError: 'ECONNREFUSED' });
      // A failed head holds its lane: what comes after it waits.
      clock.advance(24_999);
      expect(await queue.claimDeliveries(10)).toEqual([]);
      clock.advance(1);
      [claim] = await queue.claimDeliveries(10);
      expect(claim).toMatchObject({ id: d!.id, attempts: 2 });
      await queue.updateDelivery(claim!, { kind: 'release', availableAt: clock.time });
      expect(await queue.getDelivery(d!.id)).toMatchObject({ state: 'queued', attempts: 1 });
      [claim] = await queue.claimDeliveries(10);
      expect(claim).toMatchObject({ id: d!.id, attempts: 2 });
      await queue.updateDelivery(claim!, { kind: 'sent', receipts: ['m'] });
      expect(ids(await queue.claimDeliveries(10))).toEqual([behind!.id]);
    });

    it('ends a delivery dead or ambiguous without blocking its lane', async () => {
      const [dead, ambiguous, last] = await add(delivery('tg:A'), delivery('tg:A'), delivery('tg:A'));
      let [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'dead', error: 'chat not found', errorClass: 'permanent' });
      [claim] = await queue.claimDeliveries(1);
      expect(claim!.id).toBe(ambiguous!.id);
      await queue.updateDelivery(claim!, { kind: 'ambiguous', error: 'socket hang up after the request' });
      [claim] = await queue.claimDeliveries(1);
      expect(claim!.id).toBe(last!.id);
      expect(await queue.getDelivery(dead!.id)).toMatchObject({ state: 'dead', errorClass: 'permanent', lastError: 'chat not found' });
      expect(await queue.getDelivery(ambiguous!.id)).toMatchObject({ state: 'ambiguous', errorClass: 'ambiguous' });
      expect(ids(await queue.listDeliveries({ limit: 10, state: 'dead' }))).toEqual([dead!.id]);
    });

    it('holds a retried older delivery until the one of its lane that is sending ends', async () => {
      const [older, newer] = await add(delivery('tg:A'), delivery('tg:A'));
      let [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'dead', error: 'x', errorClass: 'permanent' });
      const [sending] = await queue.claimDeliveries(1);
      expect(sending!.id).toBe(newer!.id);
      expect(await queue.retryDelivery(older!.id)).toBe(true);
      expect(await queue.claimDeliveries(10)).toEqual([]);
      expect(await queue.nextDeliveryDueAt()).toBe(sending!.leaseUntil);
      await queue.updateDelivery(sending!, { kind: 'sent', receipts: ['m'] });
      [claim] = await queue.claimDeliveries(10);
      expect(claim!.id).toBe(older!.id);
    });

    it('keeps a sending lease alive while it is extended, and fences out a lost one', async () => {
      const [d] = await add(delivery('tg:A'));
      const [claim] = await queue.claimDeliveries(1);
      for (let i = 0; i < 3; i++) {
        clock.advance(20_000);
        expect(await queue.extendDeliveryLeases([claim!])).toEqual([]);
        expect(await queue.recoverDeliveries(() => false)).toBe(0);
      }
      expect(await queue.extendDeliveryLeases([{ id: d!.id, lease: claim!.lease + 7 }])).toEqual([d!.id]);
      expect(await queue.updateDelivery({ id: d!.id, lease: claim!.lease + 7 }, { kind: 'sent', receipts: [] })).toBe(false);
      expect(await queue.updateDelivery(claim!, { kind: 'sent', receipts: ['m'] })).toBe(true);
    });

    it('recovers a delivery whose sender stopped: ambiguous where the channel does not dedupe, queued where it does', async () => {
      const [tg, wh] = await add(delivery('tg:A'), delivery('wh:A'));
      const claims = await queue.claimDeliveries(10);
      expect(ids(claims)).toEqual([tg!.id, wh!.id]);
      expect(await queue.nextDeliveryDueAt()).toBe(clock.time + 30_000);
      clock.advance(29_999);
      expect(await queue.recoverDeliveries(() => true)).toBe(0);
      clock.advance(1);
      const asked: string[] = [];
      expect(await queue.recoverDeliveries((channel) => (asked.push(channel), channel === 'wh'))).toBe(2);
      expect(asked.sort()).toEqual(['tg', 'wh']);
      expect(await queue.getDelivery(tg!.id)).toMatchObject({ state: 'ambiguous', errorClass: 'ambiguous', lastError: SENDER_LOST_ERROR, attempts: 1 });
      expect(await queue.getDelivery(wh!.id)).toMatchObject({ state: 'queued', attempts: 1, availableAt: clock.time });
      // The stopped sender's late outcome is refused; the resend is a new claim.
      expect(await queue.updateDelivery(claims[1]!, { kind: 'sent', receipts: [] })).toBe(false);
      expect(await queue.claimDeliveries(10)).toMatchObject([{ id: wh!.id, attempts: 2 }]);
      expect(await queue.recoverDeliveries(() => false)).toBe(0);
    });

    it('retries an ambiguous, dead or failed delivery by hand, keeping the parts already sent', async () => {
      const [d] = await add(delivery('tg:A'));
      let [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'plan', plan: { parts: [{ text: 'one' }, { text: 'two' }] } });
      await queue.updateDelivery(claim!, { kind: 'progress', nextPart: 1, receipts: ['m1'] });
      await queue.updateDelivery(claim!, { kind: 'ambiguous', error: 'timeout after the request' });
      expect(await queue.claimDeliveries(1)).toEqual([]);
      clock.advance(60_000);
      expect(await queue.retryDelivery(d!.id)).toBe(true);
      expect(await queue.getDelivery(d!.id)).toMatchObject({ state: 'queued', attempts: 0, availableAt: clock.time, nextPart: 1, receipts: ['m1'], plan: { parts: [{ text: 'one' }, { text: 'two' }] } });
      expect(await queue.retryDelivery(d!.id)).toBe(false);
      [claim] = await queue.claimDeliveries(1);
      expect(claim).toMatchObject({ id: d!.id, nextPart: 1, receipts: ['m1'], attempts: 1 });
      await queue.updateDelivery(claim!, { kind: 'retry', availableAt: clock.time + 1_000_000, error: '502', errorClass: 'transient' });
      expect(await queue.retryDelivery(d!.id)).toBe(true);
      [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'dead', error: 'blocked', errorClass: 'permanent' });
      expect(await queue.retryDelivery(d!.id)).toBe(true);
      [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'sent', receipts: ['m1', 'm2'] });
      expect(await queue.retryDelivery(d!.id)).toBe(false);
      expect(await queue.retryDelivery('no-such-delivery')).toBe(false);
    });

    it('lists deliveries newest first by state and channel, and counts them per account', async () => {
      const [t1, t2, w1] = await add(delivery('tg:A'), delivery('tg:B'), delivery('wh:A', { account: 'hook' }));
      const [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'sent', receipts: ['m'] });
      expect(ids(await queue.listDeliveries({ limit: 10 }))).toEqual([w1!.id, t2!.id, t1!.id]);
      expect((await queue.listDeliveries({ limit: 1, offset: 1 })).map((d) => d.id)).toEqual([t2!.id]);
      expect((await queue.listDeliveries({ limit: 10, state: 'queued' })).map((d) => d.id)).toEqual([w1!.id, t2!.id]);
      expect((await queue.listDeliveries({ limit: 10, channel: 'tg' })).map((d) => d.id)).toEqual([t2!.id, t1!.id]);
      expect((await queue.listDeliveries({ limit: 10, channel: 'tg', state: 'sent' })).map((d) => d.id)).toEqual([t1!.id]);
      expect(await queue.deliveryCounts()).toEqual([
        { channel: 'tg', account: 'bot', state: 'queued', count: 1 },
        { channel: 'tg', account: 'bot', state: 'sent', count: 1 },
        { channel: 'wh', account: 'hook', state: 'queued', count: 1 },
      ]);
    });

    it('says when the next delivery is due: a waiting lane head or an expiring lease, never a row behind one', async () => {
      expect(await queue.nextDeliveryDueAt()).toBeNull();
      await add(delivery('tg:A'), delivery('tg:A'));
      expect(await queue.nextDeliveryDueAt()).toBe(clock.time);
      const [claim] = await queue.claimDeliveries(1);
      // The second row of the lane is due by its own time, but waits for the first.
      expect(await queue.nextDeliveryDueAt()).toBe(claim!.leaseUntil);
      await queue.updateDelivery(claim!, { kind: 'retry', availableAt: clock.time + 7_000, error: 'x', errorClass: 'transient' });
      expect(await queue.nextDeliveryDueAt()).toBe(clock.time + 7_000);
    });

    it('wakes delivery listeners when deliveries are added or retried, and not after the disposer', async () => {
      let woken = 0;
      const off = queue.onDeliveries(() => woken++);
      const [d] = await add(delivery('tg:A'));
      expect(woken).toBe(1);
      const [claim] = await queue.claimDeliveries(1);
      await queue.updateDelivery(claim!, { kind: 'dead', error: 'x', errorClass: 'permanent' });
      const before = woken;
      await queue.retryDelivery(d!.id);
      expect(woken).toBeGreaterThan(before);
      off();
      const after = woken;
      await add(delivery('tg:B'));
      expect(woken).toBe(after);
    });

    it('purges finished deliveries past retention and keeps the rest', async () => {
      const [sent, dead, queued, recent] = await add(delivery('tg:A'), delivery('tg:B'), delivery('tg:C'), delivery('tg:D'));
      const claims = await queue.claimDeliveries(4);
      const byId = new Map(claims.map((c) => [c.id, c]));
      await queue.updateDelivery(byId.get(sent!.id)!, { kind: 'sent', receipts: ['m'] });
      await queue.updateDelivery(byId.get(dead!.id)!, { kind: 'dead', error: 'x', errorClass: 'permanent' });
      await queue.updateDelivery(byId.get(queued!.id)!, { kind: 'release', availableAt: clock.time });
      clock.advance(10_000);
      await queue.updateDelivery(byId.get(recent!.id)!, { kind: 'sent', receipts: ['m'] });
      expect(await queue.purgeDeliveries(5_000)).toBe(2);
      expect(await queue.getDelivery(sent!.id)).toBeUndefined();
      expect(await queue.getDelivery(dead!.id)).toBeUndefined();
      expect(await queue.getDelivery(queued!.id)).toBeDefined();
      expect(await queue.getDelivery(recent!.id)).toBeDefined();
    });
  });
}
