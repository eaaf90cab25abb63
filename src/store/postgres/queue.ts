import type { Logger } from 'pino';
import { prepareAck, type Ack } from '../core/acks.js';
import { admitBatch, isRecord, prepareEnqueue, withdraw, type Admitted, type AdmissionResult, type PreparedEnqueue } from '../core/admission.js';
import { QueueBook, tallyCounts, type AckTally, type CountRow } from '../core/book.js';
import { ChannelDelegate } from '../core/channel-delegate.js';
import { leaseExpiredError } from '../core/outcomes.js';
import { purgeBefore } from '../core/purge.js';
import { GroupCommit } from '../group-commit.js';
import { toRecord, type MessageRow } from '../rows.js';
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
import { depthSlot, finishConversations, writeAckBatch, type SchemaContext } from './acks.js';
import { findRefused, insertAdmitted } from './inserts.js';
import { buildChannelSql } from './channel-sql.js';
import { PostgresAgentStore } from './agent.js';
import { PostgresChannels } from './channels.js';
import { PostgresKnowledge } from './knowledge.js';
import { PostgresMemory } from './memory.js';
import { connectPostgres, deliveryChannel, storeUnavailable, workChannel, type PostgresConnection } from './connection.js';
import { quoteIdent } from './schema.js';
import type { PostgresStoreSettings } from './settings.js';
import { buildSql, type Sql } from './sql.js';
import { describeError, isDataError, retrying, transaction } from './tx.js';

type Row = MessageRow<JsonObject>;
type Claim = Pick<ClaimedMessage, 'id' | 'lease'> & { conversationId?: string };

/** The count of done messages is a full count, shown only in stats: read at most this often. */
const DONE_TTL_MS = 5000;

/**
 * The cluster backend: every node shares one PostgreSQL schema. Design (docs/storage.md):
 * claims take heads with `FOR UPDATE SKIP LOCKED`; a conversation's head changes only while
 * its `conversations` row is locked (always in id order, so no deadlocks); enqueues and acks
 * are group-committed and answered after COMMIT; committed work sends NOTIFY, which every
 * node hears on its LISTEN connection. All times come from `options.now`, never the
 * database's `now()`.
 */
export class PostgresQueue extends ChannelDelegate implements Queue {
  readonly backend = 'postgres';
  private readonly book: QueueBook;
  private readonly enqueues: GroupCommit<PreparedEnqueue, EnqueueResult>;
  private readonly acks: GroupCommit<Ack, boolean | FailOutcome>;
  private readonly sql: Sql;
  private readonly channel: string;
  private readonly statements: SchemaContext;
  private done: { n: number; at: number } | undefined;
  private readonly disposers: Array<() => void> = [];
  /** The outbox, job leases and pairing (channels.ts); ChannelDelegate forwards to it. */
  protected readonly channels: PostgresChannels;
  /** The tool loop's journal and approvals (agent.ts). */
  readonly agent: PostgresAgentStore;
  /** Agent memory (memory.ts): its own tables, filled lazily, never on the enqueue or ack path. */
  readonly memory: PostgresMemory;
  /** The knowledge base (knowledge.ts): sources, chunks, their tsvector index and vectors. */
  readonly knowledge: PostgresKnowledge;

  constructor(
    private readonly connection: PostgresConnection,
    options: QueueOptions,
    private readonly log?: Logger,
    /** Whether close() ends the pool and listener too (a queue opened on its own). */
    private readonly ownsConnection = false,
  ) {
    super();
    this.book = new QueueBook(this.backend, options, log);
    const { schema } = connection.settings;
    this.sql = buildSql(quoteIdent(schema));
    this.channel = workChannel(schema);
    const outbox = deliveryChannel(schema);
    this.channels = new PostgresChannels(
      { pool: connection.pool, sql: buildChannelSql(quoteIdent(schema)), schema, channel: outbox, nodeId: connection.nodeId, leaseMs: this.book.options.leaseMs, now: () => this.now, assertOpen: () => this.book.assertOpen(), isClosed: () => this.book.closed },
      log,
    );
    this.agent = new PostgresAgentStore({ pool: connection.pool, schema: quoteIdent(schema), now: () => this.now, assertOpen: () => this.book.assertOpen(), isClosed: () => this.book.closed });
    const roles = { pool: connection.pool, schema: quoteIdent(schema), now: () => this.now, assertOpen: () => this.book.assertOpen() };
    this.memory = new PostgresMemory(roles);
    this.knowledge = new PostgresKnowledge(roles);
    this.statements = { sql: this.sql, channel: this.channel, nodeId: connection.nodeId, outbox: this.channels };
    // Another node's commit may have made work or deliveries claimable; so may a missed notification.
    const wake = () => this.book.notifyWork();
    const deliveries = () => this.channels.notify();
    const both = () => {
      wake();
      deliveries();
    };
    this.disposers.push(
      connection.listener.on(this.channel, (payload) => payload !== connection.nodeId && wake()),
      connection.listener.on(outbox, (payload) => payload !== connection.nodeId && deliveries()),
      connection.listener.onPoll(both),
      connection.listener.onRestored(both),
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
    let stored: Admitted[] = [];
    await transaction(this.connection.pool, async (client) => {
      stored = [];
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
        await insertAdmitted(client, this.statements, admission.fresh, now);
        stored = admission.fresh;
        return;
      }
      // Find the refused items first, without locks (each probe is rolled back), then write
      // the rest as one batch: locks in id order and one depth change, as always.
      const refused = new Map<number, Error>();
      await findRefused(client, this.statements, admission.fresh, now, refused);
      withdraw(admission, refused);
      stored = admission.fresh.filter((a) => !refused.has(a.index));
      if (stored.length > 0) await insertAdmitted(client, this.statements, stored, now);
    });
    // Records are history: they are in the done count, not in the depth or the enqueued counter.
    const records = stored.filter(isRecord).length;
    if (this.done) this.done.n += records;
    this.book.enqueued(depthRead, stored.length - records, admission!.rejected);
    return admission!.outcomes;
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
      await finishConversations(client, this.statements, dead.map((d) => d.conversation_id));
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
    let deliveries = 0;
    const outcomes = await transaction(this.connection.pool, async (client) => {
      const written = await writeAckBatch(client, this.statements, items, now, this.book.options);
      tally = written.tally;
      deliveries = written.deliveries;
      return written.outcomes;
    });
    if (this.done) this.done.n += tally.completed;
    this.book.acked(tally);
    if (deliveries > 0) this.channels.notify();
    return outcomes;
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
      if (n > 0) await client.query(this.sql.revived, [n, depthSlot(), this.channel, this.nodeId]);
      return n;
    });
    this.book.revived(moved);
    return moved;
  }

  async stats(): Promise<QueueStats> {
    this.book.assertOpen();
    const { rows } = await this.connection.pool.query<CountRow>(this.sql.counts);
    const { counts, depth, oldestWaiting } = tallyCounts(rows);
    this.book.setDepth(depth);
    if (!this.done || performance.now() - this.done.at > DONE_TTL_MS) {
      const { rows: done } = await this.connection.pool.query<{ n: number }>(this.sql.countDone);
      this.done = { n: done[0]?.n ?? 0, at: performance.now() };
    }
    counts.byState.done = this.done.n;
    return this.book.stats(counts, depth, oldestWaiting);
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
    this.channels.close();
    for (const dispose of this.disposers.splice(0)) dispose();
    if (this.ownsConnection) {
      await this.connection.listener.stop();
      await this.connection.pool.end();
    }
  }
}

function record(row: Row): MessageRecord {
  // node-postgres has parsed the jsonb columns already.
  return toRecord(row, (value) => value);
}

export { connectPostgres, describeError, type PostgresConnection };
