import type pg from 'pg';
import { isRecord, refusedByStore, type Admitted } from '../core/admission.js';
import { PRIORITY_CODE } from '../ranking.js';
import { depthSlot, type SchemaContext } from './acks.js';
import { RetryTransaction, savepoint, SavepointRollback } from './tx.js';

/** Thrown inside a probe's savepoint so it is always rolled back. */
const PROBED = new SavepointRollback('probe');

/**
 * Lock the conversations (counting the new messages in), insert, count the depth, notify. A
 * record changes no conversation's head or count, so it takes no lock.
 */
export async function insertAdmitted(client: pg.ClientBase, ctx: SchemaContext, fresh: readonly Admitted[], now: number): Promise<void> {
  const perConversation = new Map<string, number>();
  for (const f of fresh) if (!isRecord(f)) perConversation.set(f.prepared.request.conversationId, (perConversation.get(f.prepared.request.conversationId) ?? 0) + 1);
  const { rows: counted } =
    perConversation.size === 0 ? { rows: [] } : await client.query<{ id: string; active: number }>(ctx.sql.lockForEnqueue, [[...perConversation.keys()], [...perConversation.values()]]);
  // A conversation with nothing unfinished before this batch gets a head: its first new message.
  const needsHead = new Set(counted.filter((r) => r.active === perConversation.get(r.id)).map((r) => r.id));
  const head = fresh.map((f) => !isRecord(f) && needsHead.delete(f.prepared.request.conversationId));
  const { rows } = await client.query<{ n: number }>(ctx.sql.insert, [...rowParameters(fresh, head, now), ctx.channel, ctx.nodeId, depthSlot()]);
  // Another node committed one of these idempotency keys since the lookup: start over, and
  // the lookup will find it.
  if (rows[0]?.n !== fresh.length) throw new RetryTransaction('concurrent idempotency key');
}

/**
 * Which items the database refuses, by halving: a group that inserts (in a savepoint, always
 * rolled back) is good; a refused one is split until the bad items stand alone. k bad items
 * of n cost about k·log2(n) probes, and probes take no conversation or depth locks.
 */
export async function findRefused(client: pg.ClientBase, ctx: SchemaContext, items: readonly Admitted[], now: number, refused: Map<number, Error>): Promise<void> {
  const outcome = await savepoint(client, async () => {
    await client.query(ctx.sql.probeInsert, rowParameters(items, items.map(() => false), now));
    throw PROBED;
  });
  if (outcome.ok || outcome.error === PROBED) return;
  if (items.length === 1) {
    refused.set(items[0]!.index, refusedByStore(outcome.error));
    return;
  }
  const half = Math.ceil(items.length / 2);
  await findRefused(client, ctx, items.slice(0, half), now, refused);
  await findRefused(client, ctx, items.slice(half), now, refused);
}

/** The parameters $1-$12 of the insert statements. */
function rowParameters(fresh: readonly Admitted[], head: readonly boolean[], now: number): unknown[] {
  const requests = fresh.map((f) => f.prepared.request);
  return [
    fresh.map((f) => f.id),
    requests.map((r) => r.conversationId),
    requests.map((r) => r.idempotencyKey ?? null),
    requests.map((r) => r.text),
    requests.map((r) => r.sender ?? null),
    requests.map((r) => r.channel),
    requests.map((r) => PRIORITY_CODE[r.priority]),
    fresh.map((f) => f.prepared.metadata),
    head,
    fresh.map((f) => f.rank),
    now,
    fresh.map(isRecord),
  ];
}
