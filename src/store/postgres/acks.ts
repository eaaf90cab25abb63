import type pg from 'pg';
import type { Ack } from '../core/acks.js';
import type { AckTally, ResolvedQueueOptions } from '../core/book.js';
import type { PreparedDelivery } from '../core/deliveries.js';
import { decideFailure } from '../core/outcomes.js';
import type { FailOutcome } from '../types.js';
import { DEPTH_SLOTS } from './schema.js';
import type { Sql } from './sql.js';

type CompleteAck = Extract<Ack, { kind: 'complete' }>;
type FailAck = Extract<Ack, { kind: 'fail' }>;

/** What the statements of one schema need to say who is writing, and on which channel. */
export interface SchemaContext {
  readonly sql: Sql;
  /** The NOTIFY channel that wakes other nodes' workers. */
  readonly channel: string;
  readonly nodeId: string;
  /** Writes a completion's deliveries inside its transaction (channels.ts). */
  readonly outbox: { insertPrepared(client: pg.ClientBase, items: readonly PreparedDelivery[], now: number): Promise<number> };
}

interface Written {
  outcomes: Array<boolean | FailOutcome>;
  tally: AckTally;
  /** Deliveries written for the accepted completions. */
  deliveries: number;
}

/**
 * One group commit's acks inside its transaction: lock the conversations, record completions
 * and failures (fenced by lease), then count finished messages out of their conversations and
 * promote each next head. An accepted completion's deliveries are written in the same
 * transaction, a refused one's never. Only the first ack of a message in a batch can match its
 * lease; later ones are stale.
 */
export async function writeAckBatch(client: pg.ClientBase, ctx: SchemaContext, items: readonly Ack[], now: number, options: ResolvedQueueOptions): Promise<Written> {
  const tally: AckTally = { completed: 0, failed: 0, dead: 0 };
  const seen = new Set<string>();
  const first = items.map((ack) => !seen.has(ack.claim.id) && !!seen.add(ack.claim.id));
  const live = items.filter((_, i) => first[i]);
  await lockConversationsOf(client, ctx, live);

  const result = new Map<string, boolean | FailOutcome>();
  const finished: string[] = [];
  const completes = live.filter((a): a is CompleteAck => a.kind === 'complete');
  await ackCompletions(client, ctx, completes, now, result, finished, tally);
  const accepted = completes.filter((a) => result.get(a.claim.id) === true).flatMap((a) => a.completion.deliveries);
  const deliveries = await ctx.outbox.insertPrepared(client, accepted, now);
  await ackFailures(client, ctx, live.filter((a): a is FailAck => a.kind === 'fail'), now, options, result, finished, tally);
  if (finished.length > 0) await finishConversations(client, ctx, finished);
  const outcomes = items.map((ack, i) => {
    const outcome = first[i] ? result.get(ack.claim.id) : undefined;
    return outcome ?? (ack.kind === 'complete' ? false : 'stale');
  });
  return { outcomes, tally, deliveries };
}

async function lockConversationsOf(client: pg.ClientBase, { sql }: SchemaContext, acks: readonly Ack[]): Promise<void> {
  const conversationOf = new Map<string, string>();
  for (const ack of acks) if (typeof ack.claim.conversationId === 'string') conversationOf.set(ack.claim.id, ack.claim.conversationId);
  const unknown = acks.filter((a) => !conversationOf.has(a.claim.id)).map((a) => a.claim.id);
  if (unknown.length > 0) {
    const { rows } = await client.query<{ id: string; conversation_id: string }>(sql.conversationsOf, [unknown]);
    for (const row of rows) conversationOf.set(row.id, row.conversation_id);
  }
  await client.query(sql.lockConversations, [[...new Set(conversationOf.values())]]);
}

async function ackCompletions(client: pg.ClientBase, { sql }: SchemaContext, completes: readonly CompleteAck[], now: number, result: Map<string, boolean | FailOutcome>, finished: string[], tally: AckTally): Promise<void> {
  if (completes.length === 0) return;
  const { rows } = await client.query<{ id: string; conversation_id: string }>(sql.complete, [
    completes.map((a) => a.claim.id),
    completes.map((a) => a.claim.lease),
    completes.map((a) => a.completion.analysis),
    completes.map((a) => a.completion.reply),
    now,
  ]);
  for (const row of rows) {
    result.set(row.id, true);
    finished.push(row.conversation_id);
  }
  tally.completed = rows.length;
}

async function ackFailures(client: pg.ClientBase, { sql }: SchemaContext, fails: readonly FailAck[], now: number, options: ResolvedQueueOptions, result: Map<string, boolean | FailOutcome>, finished: string[], tally: AckTally): Promise<void> {
  if (fails.length === 0) return;
  const { rows } = await client.query<{ id: string; attempts: number }>(sql.leasedAttempts, [fails.map((a) => a.claim.id), fails.map((a) => a.claim.lease)]);
  const attempts = new Map(rows.map((r) => [r.id, r.attempts]));
  const toDead: FailAck[] = [];
  const toRetry: Array<{ ack: FailAck; dueAt: number }> = [];
  for (const ack of fails) {
    const n = attempts.get(ack.claim.id);
    if (n === undefined) continue;
    const decision = decideFailure(n, ack.failure, options, now);
    if (decision.kind === 'dead') toDead.push(ack);
    else toRetry.push({ ack, dueAt: decision.dueAt });
  }
  if (toDead.length > 0) {
    const { rows: dead } = await client.query<{ id: string; conversation_id: string }>(sql.failToDead, [
      toDead.map((a) => a.claim.id),
      toDead.map((a) => a.claim.lease),
      toDead.map((a) => a.failure.analysis),
      toDead.map((a) => a.failure.error),
      now,
    ]);
    for (const row of dead) {
      result.set(row.id, 'dead');
      finished.push(row.conversation_id);
    }
    tally.dead = dead.length;
  }
  if (toRetry.length > 0) {
    const { rows: retried } = await client.query<{ id: string }>(sql.failToRetry, [
      toRetry.map((r) => r.ack.claim.id),
      toRetry.map((r) => r.ack.claim.lease),
      toRetry.map((r) => r.ack.failure.analysis),
      toRetry.map((r) => r.ack.failure.error),
      toRetry.map((r) => r.dueAt),
      now,
    ]);
    for (const row of retried) result.set(row.id, 'retry');
  }
  tally.failed = [...result.values()].filter((v) => v === 'dead' || v === 'retry').length;
}

/**
 * After messages of these conversations finished (done or dead) in this transaction, with
 * their rows locked: count them out and promote each conversation's next message to head.
 * Also tells the other nodes there may be work.
 */
export async function finishConversations(client: pg.ClientBase, { sql, channel, nodeId }: SchemaContext, conversationIds: readonly string[]): Promise<void> {
  const counts = new Map<string, number>();
  for (const id of conversationIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  await client.query(sql.finish, [[...counts.keys()], [...counts.values()], channel, nodeId, conversationIds.length, depthSlot()]);
}

/** A random row of the depth counter, so concurrent transactions rarely wait on one another. */
export function depthSlot(): number {
  return Math.floor(Math.random() * DEPTH_SLOTS);
}
