import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { buildChannelSql } from '../../src/store/postgres/channel-sql.js';
import { laneLockClass } from '../../src/store/postgres/channels.js';
import { PostgresQueue } from '../../src/store/postgres/queue.js';
import { quoteIdent } from '../../src/store/postgres/schema.js';
import type { ClaimedDelivery, DeliveryInsert, Queue } from '../../src/store/types.js';
import { ManualClock, queueOptions } from '../support/index.js';
import { adminPool, dropSchema, freshSchema, PG_URL, storeUrl } from '../support/postgres.js';
import { delivery } from './channel-conformance.js';
import { msg } from './conformance.js';

/** Resolves on the next onDeliveries call of `queue`. */
function nextDeliveries(queue: Queue): Promise<void> {
  return new Promise((resolve) => {
    const off = queue.onDeliveries(() => {
      off();
      resolve();
    });
  });
}

/** The channel tables with several nodes on one schema: what only PostgreSQL has to get right. */
describe('PostgreSQL channel tables across nodes', () => {
  let schema: string;
  let clock: ManualClock;
  const opened: PostgresQueue[] = [];
  const twoNodes = async (): Promise<[PostgresQueue, PostgresQueue]> => {
    schema = await freshSchema();
    clock = new ManualClock();
    const open = async () => {
      const queue = await PostgresQueue.open(storeUrl(schema), queueOptions({ now: clock.now }));
      opened.push(queue);
      return queue;
    };
    return [await open(), await open()];
  };

  afterEach(async () => {
    for (const queue of opened.splice(0)) await queue.close();
    if (schema) await dropSchema(schema);
  });

  it('never has two deliveries of a lane sending at once, and sends each lane in order, with two nodes claiming concurrently', async () => {
    const [a, b] = await twoNodes();
    const lanes = 8;
    const perLane = 15;
    const all: DeliveryInsert[] = [];
    for (let n = 0; n < perLane; n++) for (let l = 0; l < lanes; l++) all.push(delivery(`tg:lane${l}`));
    // Added from both nodes, in order per lane.
    for (let i = 0; i < all.length; i += 10) await (i % 20 ? a : b).addDeliveries(all.slice(i, i + 10));
    const seqOf = new Map<string, number>();
    for (const d of await a.listDeliveries({ limit: all.length })) seqOf.set(d.id, d.seq);

    const pool = await adminPool();
    const sendingTwice = async () =>
      (await pool.query<{ lane: string }>(`SELECT lane FROM "${schema}".deliveries WHERE state = 'sending' GROUP BY lane HAVING count(*) > 1`)).rows.map((r) => r.lane);
    const inFlight = new Set<string>();
    const sentOrder = new Map<string, number[]>();
    const violations: string[] = [];
    let sent = 0;
    let allSent!: () => void;
    const done = new Promise<void>((resolve) => (allSent = resolve));

    const send = async (node: PostgresQueue, claim: ClaimedDelivery) => {
      if (inFlight.has(claim.lane)) violations.push(`${claim.lane} claimed while one of it was in flight`);
      inFlight.add(claim.lane);
      sentOrder.set(claim.lane, [...(sentOrder.get(claim.lane) ?? []), claim.seq]);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight.delete(claim.lane);
      expect(await node.updateDelivery(claim, { kind: 'sent', receipts: [claim.id] })).toBe(true);
      if (++sent === all.length) allSent();
    };
    const worker = async (node: PostgresQueue) => {
      while (sent < all.length) {
        const woken = nextDeliveries(node);
        const claims = await node.claimDeliveries(3);
        violations.push(...(await sendingTwice()).map((lane) => `${lane} has two rows sending`));
        if (claims.length === 0) {
          await Promise.race([woken, done]);
          continue;
        }
        await Promise.all(claims.map((c) => send(node, c)));
      }
    };
    await Promise.all([worker(a), worker(b), worker(a), worker(b)]);

    expect(violations).toEqual([]);
    for (let l = 0; l < lanes; l++) {
      const expected = all.filter((d) => d.lane === `tg:lane${l}`).map((d) => seqOf.get(d.id)!);
      expect(sentOrder.get(`tg:lane${l}`)).toEqual(expected);
    }
    expect(await a.deliveryCounts()).toEqual([{ channel: 'tg', account: 'bot', state: 'sent', count: all.length }]);
  });

  it('skips a lane another node is claiming, even when a retried older row makes a second head appear meanwhile', async () => {
    const [a, b] = await twoNodes();
    const [older, newer] = [delivery('tg:L'), delivery('tg:L')];
    await a.addDeliveries([older, newer]);
    const [first] = await a.claimDeliveries(1);
    await a.updateDelivery(first!, { kind: 'dead', error: 'x', errorClass: 'permanent' });
    // A third node is in the middle of claiming `newer`: locked its lane, marked it sending, not committed yet.
    const sql = buildChannelSql(quoteIdent(schema));
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      const { rows: locked } = await other.query<{ seq: string }>(sql.claimLanes, [clock.time, 10, laneLockClass(schema)]);
      expect(locked).toHaveLength(1);
      await other.query(sql.claimLocked, [locked.map((r) => r.seq), clock.time, clock.time + 30_000]);
      // Meanwhile the older one is retried: in every other snapshot it is now the lane's head.
      expect(await a.retryDelivery(older.id)).toBe(true);
      expect(await b.claimDeliveries(10)).toEqual([]);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    expect((await a.listDeliveries({ limit: 10, state: 'sending' })).map((d) => d.id)).toEqual([newer.id]);
    expect(await b.claimDeliveries(10)).toEqual([]);
  });

  it("wakes node B's delivery listeners when node A adds deliveries or completes a message with some", async () => {
    const [a, b] = await twoNodes();
    let woken = nextDeliveries(b);
    await a.addDeliveries([delivery('tg:1')]);
    await woken;
    await a.enqueue(msg('c1'));
    const [claim] = await a.claim(1);
    woken = nextDeliveries(b);
    await a.complete(claim!, { analysis: {}, reply: { text: 'hi', responder: 't' }, deliveries: [delivery('tg:2', { messageId: claim!.id })] });
    await woken;
    expect((await b.claimDeliveries(10)).map((d) => d.lane).sort()).toEqual(['tg:1', 'tg:2']);
  });

  it('gives a free lease to exactly one of many holders asking at once on two nodes', async () => {
    const [a, b] = await twoNodes();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).acquireLease('poll:tg:bot', `holder-${i}`, 10_000)));
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    expect(winners[0]).toMatchObject({ fence: 1 });
    clock.advance(10_000);
    const next = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).acquireLease('poll:tg:bot', `other-${i}`, 10_000)));
    expect(next.filter((r) => r !== null).map((r) => r!.fence)).toEqual([2]);
  });

  it('keeps the pairing cap of an account exact when its senders ask on two nodes at once', async () => {
    const [a, b] = await twoNodes();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).requestPairing({ channel: 'tg', account: 'bot', senderId: `u${i}`, code: `CODE${1000 + i}`, createdAt: clock.time, expiresAt: clock.time + 3_600_000 }, 3),
      ),
    );
    expect(outcomes.filter((o) => o.kind === 'created')).toHaveLength(3);
    expect(outcomes.filter((o) => o.kind === 'full')).toHaveLength(7);
    expect(await b.listPairings('tg')).toHaveLength(3);
  });
});
