import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { PincerError } from '../../errors.js';
import { prepareAck, type Ack } from '../core/acks.js';
import { admitBatch, prepareEnqueue, refusedByStore, withdraw, type AdmissionResult, type Admitted, type PreparedEnqueue } from '../core/admission.js';
import { emptyCounts, QueueBook, type AckTally } from '../core/book.js';
import { decideFailure, leaseExpiredError } from '../core/outcomes.js';
import { purgeBefore } from '../core/purge.js';
import { GroupCommit } from '../group-commit.js';
import { PRIORITY_CODE, PRIORITY_NAME } from '../ranking.js';
import { toRecord, type MessageRow } from '../rows.js';
import { redactUrl } from '../store-url.js';
import type {
  ClaimedMessage,
  Completion,
  DeadLetterEvent,
  EnqueueRequest,
  EnqueueResult,
  Failure,
  FailOutcome,
  JsonObject,
  ListOptions,
  MessageRecord,
  MessageState,
  Queue,
  QueueOptions,
  QueueStats,
} from '../types.js';
import { createPool } from './connection.js';
import { NotifyListener } from './listener.js';
import { DEPTH_SLOTS, migrate, quoteIdent } from './schema.js';
import { parsePostgresStore, type PostgresStoreSettings } from './settings.js';
import { buildSql, type Sql } from './sql.js';
import { describeError, isDataError, retrying, RetryTransaction, savepoint, transaction } from './tx.js';

type Row = MessageRow<JsonObject>;
type Claim = Pick<ClaimedMessage, 'id' | 'lease'> & { conversationId?: string };
type CompleteAck = Extract<Ack, { kind: 'complete' }>;
type FailAck = Extract<Ack, { kind: 'fail' }>;

/** The count of done messages is a full count, shown only in stats: read at most this often. */
const DONE_TTL_MS = 5000;

/** What a PostgreSQL queue runs on; shared with the message events when opened as a store. */
export interface PostgresConnection {
  readonly settings: PostgresStoreSettings;
  readonly pool: pg.Pool;
  readonly listener: NotifyListener;
  readonly nodeId: string;
}

/**
 * The cluster backend: every node shares one PostgreSQL schema. Design (docs/storage.md):
 * claims take heads with `FOR UPDATE SKIP LOCKED`; a conversation's head changes only while
 * its `conversations` row is locked (always in id order, so no deadlocks); enqueues and acks
 * are group-committed and answered after COMMIT; committed work sends NOTIFY, which every
 * node hears on its LISTEN connection. All times come from `options.now`, never the
 * database's `now()`.
 */
export class PostgresQueue implements Queue {
  readonly backend = 'postgres';
  private readonly book: QueueBook;
  private readonly enqueues: GroupCommit<PreparedEnqueue, EnqueueResult>;
  private readonly acks: GroupCommit<Ack, boolean | FailOutcome>;
  private readonly sql: Sql;
  private readonly channel: string;
  private done: { n: number; at: number } | undefined;
  private readonly disposers: Array<() => void> = [];

  constructor(
    private readonly connection: PostgresConnection,
    options: QueueOptions,
    private readonly log?: Logger,
    /** Whether close() ends the pool and listener too (a queue opened on its own). */
    private readonly ownsConnection = false,
  ) {
    this.book = new QueueBook(this.backend, options, log);
    this.sql = buildSql(quoteIdent(connection.settings.schema));
    this.channel = workChannel(connection.settings.schema);
    // Another node's commit may have made work claimable; so may a missed notification.
    const wake = () => this.book.notifyWork();
    this.disposers.push(
      connection.listener.on(this.channel, (payload) => payload !== connection.nodeId && wake()),
      connection.listener.onPoll(wake),
      connection.listener.onRestored(wake),
    );
    // One transaction in flight per kind: what arrives meanwhile is the next batch. Enqueues
    // stay strictly ordered (a conversation's messages keep arrival order).
    this.enqueues = new GroupCommit((items) => this.writeEnqueues(items), options.commitBatch, undefined, 1);
    this.acks = new GroupCommit((items) => this.writeAcks(items), options.commitBatch, undefined, 1);
  }

  get settings(): PostgresStoreSettings {
    return this.connection.settings;
  }

  get nodeId(): string {
    return this.connection.nodeId;
  }

  /** Whether the LISTEN connection is up (false: workers are woken by polling). */
  get listening(): boolean {
    return this.connection.listener.listening;
  }

  whenListening(): Promise<void> {
    return this.connection.listener.whenListening();
  }

  /** A queue with a pool and LISTEN connection of its own (tests, doctor, benchmarks). */
  static async open(store: string | PostgresStoreSettings, options: QueueOptions, log?: Logger): Promise<PostgresQueue> {
    const connection = await connectPostgres(store, options.now ?? Date.now, log);
    const queue = new PostgresQueue(connection, options, log, true);
    try {
      await queue.init();
      await connection.listener.start();
    } catch (err) {
      await queue.close().catch(() => undefined);
      throw storeUnavailable(connection.settings, err);
    }
    return queue;
  }

  /** Read the cluster-wide depth; called once the schema is migrated. */
  async init(): Promise<void> {
    const { rows } = await this.connection.pool.query<{ n: number }>(this.sql.depth);
    this.book.setDepth(rows[0]?.n ?? 0);
  }

  private get now(): number {
    return this.book.options.now();
  }

  // ---------------------------------------------------------------- enqueue

  async enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    this.book.assertOpen();
    return this.enqueues.submit(prepareEnqueue(request, this.book.options.metadata));
  }

  private async writeEnqueues(items: PreparedEnqueue[]): Promise<Array<EnqueueResult | Error>> {
    const now = this.now;
    const keys = [...new Set(items.map((i) => i.request.idempotencyKey).filter((k): k is string => !!k))];
    try {
      return await this.enqueueBatch(items, keys, now, false);
    } catch (err) {
      // One item the database refuses fails the batch statement: write them one by one, each
      // in a savepoint, so only that item is refused.
      if (!isDataError(err)) throw err;
      this.log?.warn({ err: describeError(err), event: 'queue.enqueue_isolated', items: items.length }, 'the store refused an item of an enqueue batch; writing the batch item by item');
      return this.enqueueBatch(items, keys, now, true);
    }
  }

  private async enqueueBatch(items: PreparedEnqueue[], keys: string[], now: number, isolate: boolean): Promise<Array<EnqueueResult | Error>> {
    let depthRead = this.book.depth;
    let admission: AdmissionResult | undefined;
    let admitted = 0;
    await transaction(this.connection.pool, async (client) => {
      // The cluster-wide depth (other nodes enqueue and finish too) and the known keys: one round trip.
      const existing = new Map<string, EnqueueResult>();
      const { rows: found } = await client.query<{ kind: string; id: string; conversation_id: string; state: MessageState; idempotency_key: string; n: number }>(this.sql.enqueueLookup, [keys]);
      for (const row of found) {
        if (row.kind === 'd') depthRead = row.n;
        else existing.set(row.idempotency_key, { id: row.id, conversationId: row.conversation_id, status: row.state, duplicate: true });
      }
      admission = admitBatch(items, (key) => existing.get(key), this.book, depthRead, now);
      if (admission.fresh.length === 0) return;
      if (!isolate) {
        await this.insert(client, admission.fresh, now);
        admitted = admission.fresh.length;
        return;
      }
      const refused = new Map<number, Error>();
      for (const one of admission.fresh) {
        const outcome = await savepoint(client, () => this.insert(client, [one], now));
        if (!outcome.ok) refused.set(one.index, refusedByStore(outcome.error));
      }
      admitted = withdraw(admission, refused);
    });
    this.book.enqueued(depthRead, admitted, admission!.rejected);
    return admission!.outcomes;
  }

  /** Lock the conversations (counting the new messages in), insert, count the depth, notify. */
  private async insert(client: pg.ClientBase, fresh: readonly Admitted[], now: number): Promise<void> {
    const perConversation = new Map<string, number>();
    for (const f of fresh) perConversation.set(f.prepared.request.conversationId, (perConversation.get(f.prepared.request.conversationId) ?? 0) + 1);
    const { rows: counted } = await client.query<{ id: string; active: number }>(this.sql.lockForEnqueue, [[...perConversation.keys()], [...perConversation.values()]]);
    // A conversation with nothing unfinished before this batch gets a head: its first new message.
    const needsHead = new Set(counted.filter((r) => r.active === perConversation.get(r.id)).map((r) => r.id));
    const head = fresh.map((f) => needsHead.delete(f.prepared.request.conversationId));
    const requests = fresh.map((f) => f.prepared.request);
    const { rows } = await client.query<{ n: number }>(this.sql.insert, [
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
      this.channel,
      this.nodeId,
      slot(),
    ]);
    // Another node committed one of these idempotency keys since the lookup: start over, and
    // the lookup will find it.
    if (rows[0]?.n !== fresh.length) throw new RetryTransaction('concurrent idempotency key');
  }

  // ---------------------------------------------------------------- claims

  async claim(max: number): Promise<ClaimedMessage[]> {
    this.book.assertOpen();
    if (max <= 0) return [];
    const now = this.now;
    const leaseUntil = now + this.book.options.leaseMs;
    const { rows } = await retrying(() => this.connection.pool.query<Row & { expired: boolean }>(this.sql.claim, [now, max, leaseUntil, this.book.options.maxAttempts]));
    const claimed = rows
      .filter((r) => !r.expired)
      .sort((a, b) => a.rank - b.rank || a.seq - b.seq)
      .map((row): ClaimedMessage => ({ ...record(row), lease: row.lease, leaseUntil }));
    const expired = rows.filter((r) => r.expired);
    // The claims above are committed: a failure here must not lose them to a lease timeout.
    // Rows whose expiry was not recorded are found again by the next claim.
    if (expired.length > 0) await this.expire(expired, now).catch((err: unknown) => this.log?.warn({ err: describeError(err), event: 'queue.expire' }, 'could not dead-letter expired messages; the next claim retries'));
    return claimed;
  }

  /** Leases that ran out on the last allowed attempt: the worker crashed or hung every time. */
  private async expire(rows: Row[], now: number): Promise<void> {
    const { maxAttempts } = this.book.options;
    const events = await transaction(this.connection.pool, async (client) => {
      await client.query(this.sql.lockConversations, [[...new Set(rows.map((r) => r.conversation_id))]]);
      const { rows: dead } = await client.query<{ id: string; conversation_id: string; attempts: number; last_error: string }>(this.sql.expireToDead, [
        rows.map((r) => r.id),
        rows.map((r) => r.lease),
        rows.map((r) => leaseExpiredError(r.attempts, maxAttempts)),
        now,
      ]);
      await this.finishConversations(client, dead.map((d) => d.conversation_id));
      return dead.map((d): DeadLetterEvent => ({ id: d.id, attempts: d.attempts, error: d.last_error }));
    });
    this.book.expired(events);
  }

  async extendLeases(claims: readonly Claim[]): Promise<string[]> {
    this.book.assertOpen();
    if (claims.length === 0) return [];
    const now = this.now;
    const { rows } = await retrying(() =>
      this.connection.pool.query<{ id: string }>(this.sql.extend, [claims.map((c) => c.id), claims.map((c) => c.lease), now + this.book.options.leaseMs, now]),
    );
    const kept = new Set(rows.map((r) => r.id));
    return claims.filter((c) => !kept.has(c.id)).map((c) => c.id);
  }

  // ---------------------------------------------------------------- acks

  async complete(claim: Claim, completion: Completion): Promise<boolean> {
    this.book.assertOpen();
    return (await this.acks.submit(prepareAck({ kind: 'complete', claim, completion }))) as boolean;
  }

  async fail(claim: Claim, failure: Failure): Promise<FailOutcome> {
    this.book.assertOpen();
    return (await this.acks.submit(prepareAck({ kind: 'fail', claim, failure }))) as FailOutcome;
  }

  private async writeAcks(items: Ack[]): Promise<Array<boolean | FailOutcome>> {
    const now = this.now;
    let tally: AckTally = { completed: 0, failed: 0, dead: 0 };
    const outcomes = await transaction(this.connection.pool, async (client) => {
      tally = { completed: 0, failed: 0, dead: 0 };
      // Only the first ack of a message in a batch can match its lease; later ones are stale.
      const seen = new Set<string>();
      const first = items.map((ack) => !seen.has(ack.claim.id) && !!seen.add(ack.claim.id));
      const live = items.filter((_, i) => first[i]);
      await this.lockConversationsOf(client, live);

      const result = new Map<string, boolean | FailOutcome>();
      const finished: string[] = [];
      await this.ackCompletions(client, live.filter((a): a is CompleteAck => a.kind === 'complete'), now, result, finished, tally);
      await this.ackFailures(client, live.filter((a): a is FailAck => a.kind === 'fail'), now, result, finished, tally);
      if (finished.length > 0) await this.finishConversations(client, finished);
      return items.map((ack, i) => {
        const outcome = first[i] ? result.get(ack.claim.id) : undefined;
        return outcome ?? (ack.kind === 'complete' ? false : 'stale');
      });
    });
    if (this.done) this.done.n += tally.completed;
    this.book.acked(tally);
    return outcomes;
  }

  private async lockConversationsOf(client: pg.ClientBase, acks: readonly Ack[]): Promise<void> {
    const conversationOf = new Map<string, string>();
    for (const ack of acks) if (typeof ack.claim.conversationId === 'string') conversationOf.set(ack.claim.id, ack.claim.conversationId);
    const unknown = acks.filter((a) => !conversationOf.has(a.claim.id)).map((a) => a.claim.id);
    if (unknown.length > 0) {
      const { rows } = await client.query<{ id: string; conversation_id: string }>(this.sql.conversationsOf, [unknown]);
      for (const row of rows) conversationOf.set(row.id, row.conversation_id);
    }
    await client.query(this.sql.lockConversations, [[...new Set(conversationOf.values())]]);
  }

  private async ackCompletions(client: pg.ClientBase, completes: readonly CompleteAck[], now: number, result: Map<string, boolean | FailOutcome>, finished: string[], tally: AckTally): Promise<void> {
    if (completes.length === 0) return;
    const { rows } = await client.query<{ id: string; conversation_id: string }>(this.sql.complete, [
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

  private async ackFailures(client: pg.ClientBase, fails: readonly FailAck[], now: number, result: Map<string, boolean | FailOutcome>, finished: string[], tally: AckTally): Promise<void> {
    if (fails.length === 0) return;
    const { rows } = await client.query<{ id: string; attempts: number }>(this.sql.leasedAttempts, [fails.map((a) => a.claim.id), fails.map((a) => a.claim.lease)]);
    const attempts = new Map(rows.map((r) => [r.id, r.attempts]));
    const toDead: FailAck[] = [];
    const toRetry: Array<{ ack: FailAck; dueAt: number }> = [];
    for (const ack of fails) {
      const n = attempts.get(ack.claim.id);
      if (n === undefined) continue;
      const decision = decideFailure(n, ack.failure, this.book.options, now);
      if (decision.kind === 'dead') toDead.push(ack);
      else toRetry.push({ ack, dueAt: decision.dueAt });
    }
    if (toDead.length > 0) {
      const { rows: dead } = await client.query<{ id: string; conversation_id: string }>(this.sql.failToDead, [
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
      const { rows: retried } = await client.query<{ id: string }>(this.sql.failToRetry, [
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
  private async finishConversations(client: pg.ClientBase, conversationIds: string[]): Promise<void> {
    const counts = new Map<string, number>();
    for (const id of conversationIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    await client.query(this.sql.finish, [[...counts.keys()], [...counts.values()], this.channel, this.nodeId, conversationIds.length, slot()]);
  }

  async release(claim: Claim): Promise<void> {
    this.book.assertOpen();
    const { rows } = await retrying(() => this.connection.pool.query<{ n: number }>(this.sql.release, [claim.id, claim.lease, this.now, this.channel, this.nodeId]));
    if ((rows[0]?.n ?? 0) > 0) this.book.notifyWork();
  }

  // ---------------------------------------------------------------- reads

  async get(id: string): Promise<MessageRecord | undefined> {
    const rows = await this.read(this.sql.get, [id]);
    return rows[0] ? record(rows[0]) : undefined;
  }

  async conversation(conversationId: string, options: ListOptions): Promise<MessageRecord[]> {
    return (await this.read(this.sql.conversation, [conversationId, options.limit, options.offset ?? 0])).map(record);
  }

  async latest(conversationId: string, limit: number): Promise<MessageRecord[]> {
    return (await this.read(this.sql.latest, [conversationId, limit])).map(record);
  }

  async listDead(options: ListOptions): Promise<MessageRecord[]> {
    return (await this.read(this.sql.dead, [options.limit, options.offset ?? 0])).map(record);
  }

  private async read(text: string, values: unknown[]): Promise<Row[]> {
    this.book.assertOpen();
    return (await this.connection.pool.query<Row>(text, values)).rows;
  }

  /** A caller is answered only after the COMMIT covering it returned, and a COMMIT is durable. */
  synced(): Promise<void> {
    return Promise.resolve();
  }

  // ---------------------------------------------------------------- operations

  async retryDead(ids: readonly string[] | 'all'): Promise<number> {
    this.book.assertOpen();
    const now = this.now;
    const moved = await transaction(this.connection.pool, async (client) => {
      const { rows: targets } = await client.query<{ id: string; conversation_id: string }>(this.sql.deadTargets, [ids === 'all' ? null : [...ids]]);
      if (targets.length === 0) return 0;
      // Lock (creating if purged) every conversation concerned before touching heads.
      await client.query(this.sql.lockForEnqueue, [[...new Set(targets.map((t) => t.conversation_id))], targets.map(() => 0)]);
      let n = 0;
      for (const target of targets) {
        const { rowCount } = await client.query(this.sql.revive, [target.id, now]);
        if (!rowCount) continue;
        // The oldest unfinished message must be the head. A head being processed cannot be
        // taken back; otherwise the head moves to the oldest, which may be the revived one.
        await client.query(this.sql.demoteWaitingHead, [target.conversation_id]);
        await client.query(this.sql.promoteOldest, [target.conversation_id]);
        n++;
      }
      if (n > 0) await client.query(this.sql.revived, [n, slot(), this.channel, this.nodeId]);
      return n;
    });
    this.book.revived(moved);
    return moved;
  }

  async stats(): Promise<QueueStats> {
    this.book.assertOpen();
    const counts = emptyCounts();
    const { rows } = await this.connection.pool.query<{ state: MessageState; priority: number; n: number; oldest: number | null }>(this.sql.counts);
    let oldest: number | null = null;
    let depth = 0;
    for (const { state, priority, n, oldest: t } of rows) {
      counts.byState[state] += n;
      if (state === 'dead') continue;
      depth += n;
      if (state !== 'processing') {
        counts.byPriority[PRIORITY_NAME[priority] ?? 'normal'] += n;
        if (t !== null && (oldest === null || t < oldest)) oldest = t;
      }
    }
    this.book.setDepth(depth);
    if (!this.done || performance.now() - this.done.at > DONE_TTL_MS) {
      const { rows: done } = await this.connection.pool.query<{ n: number }>(this.sql.countDone);
      this.done = { n: done[0]?.n ?? 0, at: performance.now() };
    }
    counts.byState.done = this.done.n;
    return this.book.stats(counts, depth, oldest);
  }

  async nextDueAt(): Promise<number | null> {
    this.book.assertOpen();
    const { rows } = await this.connection.pool.query<{ due: number | null }>(this.sql.nextDue);
    return rows[0]?.due ?? null;
  }

  onWork(listener: () => void): () => void {
    return this.book.work.add(listener);
  }

  onDeadLetter(listener: (event: DeadLetterEvent) => void): () => void {
    return this.book.deadLetters.add(listener);
  }

  /** Any node may purge; concurrent purges only find less to delete. */
  async purge(olderThanMs: number): Promise<number> {
    this.book.assertOpen();
    const pool = this.connection.pool;
    const removed = await purgeBefore(this.now - olderThanMs, {
      bounds: async () => (await pool.query<{ lo: number | null; hi: number | null }>(this.sql.seqBounds)).rows[0] ?? { lo: null, hi: null },
      firstFrom: async (seq) => (await pool.query<{ seq: number; created_at: number }>(this.sql.createdAtFrom, [seq])).rows[0],
      deleteChunk: async (cutoff, limit) => (await pool.query(this.sql.purgeChunk, [cutoff, limit])).rowCount ?? 0,
      stopped: () => this.book.closed,
    });
    if (!this.book.closed) await pool.query(this.sql.purgeConversations);
    if (this.done) this.done.n = Math.max(0, this.done.n - removed);
    return removed;
  }

  async ping(): Promise<void> {
    this.book.assertOpen();
    await this.connection.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.book.closed) return;
    await this.enqueues.settled();
    await this.acks.settled();
    this.book.markClosed();
    for (const dispose of this.disposers.splice(0)) dispose();
    if (this.ownsConnection) {
      await this.connection.listener.stop();
      await this.connection.pool.end();
    }
  }
}

/** The NOTIFY channel on which nodes say "there may be work". */
export function workChannel(schema: string): string {
  return `pincer:${schema}`;
}

/** Connect a pool and a (not yet started) LISTEN connection, and migrate the schema (once across the cluster). */
export async function connectPostgres(store: string | PostgresStoreSettings, now: () => number, log?: Logger): Promise<PostgresConnection> {
  const settings = typeof store === 'string' ? parsePostgresStore(store) : store;
  const nodeId = randomUUID();
  const pool = createPool(settings, log);
  const listener = new NotifyListener(settings.connectionString, `pincer-listen:${nodeId}`, settings.pollMs, log);
  try {
    const client = await pool.connect();
    try {
      const applied = await migrate(client, settings.schema, now);
      if (applied.length > 0) log?.info({ event: 'store.migrate', schema: settings.schema, versions: applied }, `store schema "${settings.schema}" migrated to version ${applied.at(-1)}`);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw storeUnavailable(settings, err);
  }
  return { settings, pool, listener, nodeId };
}

function storeUnavailable(settings: PostgresStoreSettings, err: unknown): PincerError {
  if (err instanceof PincerError) return err;
  return new PincerError('STORE_UNAVAILABLE', `PostgreSQL store ${redactUrl(settings.connectionString)} (schema "${settings.schema}"): ${describeError(err)}`, 503);
}

/** A random row of the depth counter. */
function slot(): number {
  return Math.floor(Math.random() * DEPTH_SLOTS);
}

function record(row: Row): MessageRecord {
  // node-postgres has parsed the jsonb columns already.
  return toRecord(row, (value) => value);
}

export { describeError };
