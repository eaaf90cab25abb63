import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { PincerError, QueueFullError } from '../errors.js';
import { QueueCapacity } from './capacity.js';
import { GroupCommit } from './group-commit.js';
import { timeOrderedId } from './ids.js';
import { ACTIVE_STATES_SQL, DEPTH_SLOTS, migrate, quoteIdent } from './postgres-schema.js';
import { RateMeter, retryAfterSeconds } from './rate-meter.js';
import { PRIORITY_CODE, PRIORITY_NAME, rankOf, retryDelay } from './ranking.js';
import { jsonOrNull, toRecord, type MessageRow } from './rows.js';
import { redactUrl } from './store-url.js';
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
} from './types.js';

/** What `store` = `postgres://...` says, once Pincer's own query parameters are taken out. */
export interface PostgresStoreSettings {
  /** The URL handed to node-postgres (without schema/pool/poll). */
  connectionString: string;
  /** Schema holding every object of this store (`?schema=`, default `pincer`). */
  schema: string;
  /** Size of the connection pool (`?pool=`, default 10); the LISTEN connection is extra. */
  poolSize: number;
  /** While the LISTEN connection is down, wake workers this often (`?poll=` ms, default 1000). */
  pollMs: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

export function parsePostgresStore(store: string): PostgresStoreSettings {
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new PincerError('STORE_INVALID', 'store: not a valid postgres:// URL', 500);
  }
  const take = (name: string): string | null => {
    const value = url.searchParams.get(name);
    url.searchParams.delete(name);
    return value;
  };
  const schema = take('schema') ?? 'pincer';
  if (!SCHEMA_NAME.test(schema)) {
    throw new PincerError('STORE_INVALID', `store: schema "${schema}" must be 1-50 lower-case letters, digits or _ (not starting with a digit)`, 500);
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = take(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new PincerError('STORE_INVALID', `store: ${name}=${raw} must be an integer from ${min} to ${max}`, 500);
    return n;
  };
  const poolSize = int('pool', 10, 1, 1000);
  const pollMs = int('poll', 1000, 10, 3_600_000);
  return { connectionString: url.toString(), schema, poolSize, pollMs };
}

type Row = MessageRow<JsonObject>;

type Claim = Pick<ClaimedMessage, 'id' | 'lease'> & { conversationId?: string };
type Ack = { kind: 'complete'; claim: Claim; completion: Completion } | { kind: 'fail'; claim: Claim; failure: Failure };

const PURGE_CHUNK = 2000;
/** The same for the count of done messages (a full count, only shown in stats). */
const DONE_TTL_MS = 5000;
const TX_ATTEMPTS = 5;
/** Longest wait for a connection (a new one, or a free one from the pool). */
const CONNECT_TIMEOUT_MS = 15_000;
const LISTEN_RETRY_MAX_MS = 30_000;

/** int8 (bigint) columns hold millisecond times, sequence numbers and counts: all safe as numbers. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20 && format !== 'binary') return (value: string) => Number(value);
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Thrown inside a transaction to roll it back and run it again (a concurrent duplicate key). */
class RetryTransaction extends Error {}

/**
 * The cluster backend: every node shares one PostgreSQL schema. Design (docs/storage.md):
 *
 * - Claims take heads with `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other's
 *   claims and never get the same message; `lease` fences acks as in SQLite.
 * - A conversation's head (its only claimable message) changes only while its row in
 *   `conversations` is locked. Enqueues lock it with an upsert that also counts the
 *   conversation's unfinished messages; acks, lease-expiry and retryDead lock it with
 *   `SELECT ... FOR UPDATE`. All lock in id order, so they cannot deadlock on each other.
 * - Enqueues and acks are group-committed: one transaction for all that arrive in a turn of the
 *   event loop; callers are answered after COMMIT returns (durable with synchronous_commit).
 * - Committed work sends `NOTIFY`; every node LISTENs on one dedicated connection and wakes its
 *   workers. Between notifications nodes sleep until `nextDueAt` (the worker pool's contract).
 * - All times come from `options.now` (the app's clock), never the database's `now()`.
 */
export class PostgresQueue implements Queue {
  readonly backend = 'postgres';
  readonly nodeId = randomUUID();
  private readonly pool: pg.Pool;
  private readonly options: Required<QueueOptions>;
  private readonly capacity: QueueCapacity;
  private readonly enqueues: GroupCommit<EnqueueRequest, EnqueueResult>;
  private readonly acks: GroupCommit<Ack, boolean | FailOutcome>;
  private readonly listeners = new Set<() => void>();
  private readonly deadLetterListeners = new Set<(event: DeadLetterEvent) => void>();
  private readonly drainRate: RateMeter;
  private readonly sql: ReturnType<typeof buildSql>;
  private readonly channel: string;
  /** The cluster-wide depth as last read from the store, plus this node's changes since. */
  private depth = 0;
  private done: { n: number; at: number } | undefined;
  private counters = { enqueued: 0, completed: 0, failed: 0, deadLettered: 0, rejected: 0 };
  private closed = false;
  private listener: pg.Client | undefined;
  private listenerReady: Promise<void> | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = 500;
  private readonly listenerWaiters = new Set<() => void>();

  private constructor(
    readonly settings: PostgresStoreSettings,
    options: QueueOptions,
    private readonly log?: Logger,
  ) {
    this.options = { now: Date.now, ...options };
    this.sql = buildSql(quoteIdent(settings.schema));
    this.channel = `pincer:${settings.schema}`;
    this.pool = new pg.Pool({
      connectionString: settings.connectionString,
      // A 202 promises a flushed commit, whatever the server's or role's default says; claims
      // turn it off for themselves only (see the claim statement).
      options: '-c synchronous_commit=on',
      max: settings.poolSize,
      types: TYPES,
      application_name: 'pincer',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // An idle pooled connection that drops emits here; the pool replaces it on next use.
    this.pool.on('error', (err) => this.log?.warn({ err, event: 'store.connection' }, 'an idle PostgreSQL connection failed; it will be replaced'));
    // A connection can also die while checked out, between two statements of a transaction:
    // node-postgres then emits 'error' on the client, which would be an uncaught exception
    // that takes the process down. The statement that follows fails and is handled as usual.
    this.pool.on('connect', (client) => {
      client.on('error', (err) => this.log?.warn({ err, event: 'store.connection' }, 'a PostgreSQL connection in use failed; its transaction fails and is retried or reported'));
    });
    this.drainRate = new RateMeter(10, this.options.now);
    this.capacity = new QueueCapacity(options.maxLength, options.maxLengthCap, (change) => {
      this.log?.warn(
        { event: 'queue.limit', ...change },
        change.kind === 'grow'
          ? `queue over 80% full (${change.depth} waiting): limit grown from ${change.from} to ${change.to}`
          : `queue drained (${change.depth} waiting): limit back to ${change.to}`,
      );
    });
    // One transaction in flight per kind: what arrives meanwhile is the next batch. Enqueues
    // stay strictly ordered (a conversation's messages keep arrival order).
    this.enqueues = new GroupCommit((items) => this.writeEnqueues(items), options.commitBatch, undefined, 1);
    this.acks = new GroupCommit((items) => this.writeAcks(items), options.commitBatch, undefined, 1);
  }

  /** Connect, migrate the schema (once across the cluster) and start listening for work. */
  static async open(store: string | PostgresStoreSettings, options: QueueOptions, log?: Logger): Promise<PostgresQueue> {
    const settings = typeof store === 'string' ? parsePostgresStore(store) : store;
    const queue = new PostgresQueue(settings, options, log);
    try {
      await queue.init();
    } catch (err) {
      await queue.close().catch(() => undefined);
      if (err instanceof PincerError) throw err;
      throw new PincerError('STORE_UNAVAILABLE', `PostgreSQL store ${redactUrl(settings.connectionString)} (schema "${settings.schema}"): ${describeError(err)}`, 503);
    }
    return queue;
  }

  private async init(): Promise<void> {
    const client = await this.pool.connect();
    try {
      const applied = await migrate(client, this.settings.schema, this.options.now);
      if (applied.length > 0) this.log?.info({ event: 'store.migrate', schema: this.settings.schema, versions: applied }, `store schema "${this.settings.schema}" migrated to version ${applied.at(-1)}`);
    } finally {
      client.release();
    }
    await this.refreshDepth();
    this.capacity.observe(this.depth);
    await this.connectListener();
  }

  // ---------------------------------------------------------------- enqueue

  enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    this.assertOpen();
    return this.enqueues.submit(request);
  }

  private async writeEnqueues(items: EnqueueRequest[]): Promise<Array<EnqueueResult | Error>> {
    const now = this.options.now();
    const keys = [...new Set(items.map((i) => i.idempotencyKey).filter((k): k is string => !!k))];
    let admitted = 0;
    let rejected = 0;
    let depthRead = this.depth;
    const outcomes = await this.tx(async (client) => {
      admitted = 0;
      rejected = 0;
      // The cluster-wide depth (other nodes enqueue and finish too) and the known keys: one round trip.
      const existing = new Map<string, EnqueueResult>();
      const { rows: found } = await client.query<{ kind: string; id: string; conversation_id: string; state: MessageState; idempotency_key: string; n: number }>(
        this.sql.enqueueLookup,
        [keys],
      );
      for (const row of found) {
        if (row.kind === 'd') depthRead = row.n;
        else existing.set(row.idempotency_key, { id: row.id, conversationId: row.conversation_id, status: row.state, duplicate: true });
      }
      let depth = depthRead;
      const fresh: Array<{ item: EnqueueRequest; id: string; ordinal: number }> = [];
      const outcomes = items.map((item): EnqueueResult | Error => {
        if (item.idempotencyKey) {
          const known = existing.get(item.idempotencyKey);
          if (known) return known;
        }
        if (!this.capacity.admits(depth)) {
          rejected++;
          return new QueueFullError(depth, this.capacity.limit, retryAfterSeconds(this.capacity.limit, this.drainRate.perSecond()));
        }
        const id = timeOrderedId(now);
        fresh.push({ item, id, ordinal: fresh.length });
        depth++;
        admitted++;
        this.capacity.observe(depth);
        const result: EnqueueResult = { id, conversationId: item.conversationId, status: 'queued', duplicate: false };
        // A second request with the same key in this batch is a duplicate of this one.
        if (item.idempotencyKey) existing.set(item.idempotencyKey, { ...result, duplicate: true });
        return result;
      });
      if (fresh.length === 0) return outcomes;

      // Count the new messages per conversation and lock their rows (in id order).
      const perConversation = new Map<string, number>();
      for (const f of fresh) perConversation.set(f.item.conversationId, (perConversation.get(f.item.conversationId) ?? 0) + 1);
      const { rows: counted } = await client.query<{ id: string; active: number }>(this.sql.lockForEnqueue, [[...perConversation.keys()], [...perConversation.values()]]);
      // A conversation with nothing unfinished before this batch gets a head: its first new message.
      const needsHead = new Set(counted.filter((r) => r.active === perConversation.get(r.id)).map((r) => r.id));
      const head = fresh.map((f) => needsHead.delete(f.item.conversationId));

      const { rows } = await client.query<{ n: number }>(this.sql.insert, [
        fresh.map((f) => f.id),
        fresh.map((f) => f.item.conversationId),
        fresh.map((f) => f.item.idempotencyKey ?? null),
        fresh.map((f) => f.item.text),
        fresh.map((f) => f.item.sender ?? null),
        fresh.map((f) => f.item.channel),
        fresh.map((f) => PRIORITY_CODE[f.item.priority]),
        fresh.map((f) => (f.item.metadata ? JSON.stringify(f.item.metadata) : null)),
        head,
        fresh.map((f) => rankOf(f.item.priority, now, this.options.agingMs)),
        now,
        this.channel,
        this.nodeId,
        slot(),
      ]);
      // Another node committed one of these idempotency keys since the lookup: start over, and
      // the lookup will find it.
      if (rows[0]?.n !== fresh.length) throw new RetryTransaction('concurrent idempotency key');
      return outcomes;
    });
    this.depth = depthRead + admitted;
    this.counters.enqueued += admitted;
    this.counters.rejected += rejected;
    if (admitted > 0) this.notify();
    return outcomes;
  }

  // ---------------------------------------------------------------- claims

  async claim(max: number): Promise<ClaimedMessage[]> {
    this.assertOpen();
    if (max <= 0) return [];
    const now = this.options.now();
    const leaseUntil = now + this.options.leaseMs;
    const { rows } = await this.retrying(() => this.pool.query<Row & { expired: boolean }>(this.sql.claim, [now, max, leaseUntil, this.options.maxAttempts]));
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
    const events = await this.tx(async (client) => {
      await client.query(this.sql.lockConversations, [[...new Set(rows.map((r) => r.conversation_id))]]);
      const errors = rows.map((r) => `lease expired on attempt ${r.attempts} of ${this.options.maxAttempts}: the worker crashed or hung`);
      const { rows: dead } = await client.query<{ id: string; conversation_id: string; attempts: number; last_error: string }>(this.sql.expireToDead, [
        rows.map((r) => r.id),
        rows.map((r) => r.lease),
        errors,
        now,
      ]);
      await this.finishConversations(client, dead.map((d) => d.conversation_id));
      return dead.map((d): DeadLetterEvent => ({ id: d.id, attempts: d.attempts, error: d.last_error }));
    });
    if (events.length === 0) return;
    this.depth -= events.length;
    this.counters.deadLettered += events.length;
    this.capacity.observe(this.depth);
    for (const event of events) {
      for (const listener of this.deadLetterListeners) {
        try {
          listener(event);
        } catch (err) {
          this.log?.error({ err, id: event.id }, 'a dead-letter listener failed');
        }
      }
    }
    this.notify();
  }

  async extendLeases(claims: readonly Claim[]): Promise<string[]> {
    this.assertOpen();
    if (claims.length === 0) return [];
    const now = this.options.now();
    const { rows } = await this.retrying(() =>
      this.pool.query<{ id: string }>(this.sql.extend, [claims.map((c) => c.id), claims.map((c) => c.lease), now + this.options.leaseMs, now]),
    );
    const kept = new Set(rows.map((r) => r.id));
    return claims.filter((c) => !kept.has(c.id)).map((c) => c.id);
  }

  async complete(claim: Claim, completion: Completion): Promise<boolean> {
    this.assertOpen();
    return (await this.acks.submit({ kind: 'complete', claim, completion })) as boolean;
  }

  async fail(claim: Claim, failure: Failure): Promise<FailOutcome> {
    this.assertOpen();
    return (await this.acks.submit({ kind: 'fail', claim, failure })) as FailOutcome;
  }

  private async writeAcks(items: Ack[]): Promise<Array<boolean | FailOutcome>> {
    const now = this.options.now();
    let tally = { completed: 0, failed: 0, dead: 0 };
    const outcomes = await this.tx(async (client) => {
      tally = { completed: 0, failed: 0, dead: 0 };
      // Only the first ack of a message in a batch can match its lease; later ones are stale.
      const seen = new Set<string>();
      const first = items.map((ack) => !seen.has(ack.claim.id) && !!seen.add(ack.claim.id));
      const live = items.filter((_, i) => first[i]);

      const conversationOf = new Map<string, string>();
      for (const ack of live) if (typeof ack.claim.conversationId === 'string') conversationOf.set(ack.claim.id, ack.claim.conversationId);
      const unknown = live.filter((a) => !conversationOf.has(a.claim.id)).map((a) => a.claim.id);
      if (unknown.length > 0) {
        const { rows } = await client.query<{ id: string; conversation_id: string }>(this.sql.conversationsOf, [unknown]);
        for (const row of rows) conversationOf.set(row.id, row.conversation_id);
      }
      await client.query(this.sql.lockConversations, [[...new Set(conversationOf.values())]]);

      const result = new Map<string, boolean | FailOutcome>();
      const finished: string[] = [];
      const completes = live.filter((a): a is Extract<Ack, { kind: 'complete' }> => a.kind === 'complete');
      if (completes.length > 0) {
        const { rows } = await client.query<{ id: string; conversation_id: string }>(this.sql.complete, [
          completes.map((a) => a.claim.id),
          completes.map((a) => a.claim.lease),
          completes.map((a) => jsonOrNull(a.completion.analysis)),
          completes.map((a) => JSON.stringify(a.completion.reply)),
          now,
        ]);
        for (const row of rows) {
          result.set(row.id, true);
          finished.push(row.conversation_id);
        }
        tally.completed = rows.length;
      }
      const fails = live.filter((a): a is Extract<Ack, { kind: 'fail' }> => a.kind === 'fail');
      if (fails.length > 0) {
        const { rows } = await client.query<{ id: string; attempts: number }>(this.sql.leasedAttempts, [fails.map((a) => a.claim.id), fails.map((a) => a.claim.lease)]);
        const attempts = new Map(rows.map((r) => [r.id, r.attempts]));
        const toDead: Array<Extract<Ack, { kind: 'fail' }>> = [];
        const toRetry: Array<{ ack: Extract<Ack, { kind: 'fail' }>; dueAt: number }> = [];
        for (const ack of fails) {
          const n = attempts.get(ack.claim.id);
          if (n === undefined) continue;
          if (ack.failure.retryable === false || n >= this.options.maxAttempts) toDead.push(ack);
          else toRetry.push({ ack, dueAt: now + retryDelay(n, this.options) });
        }
        if (toDead.length > 0) {
          const { rows: dead } = await client.query<{ id: string; conversation_id: string }>(this.sql.failToDead, [
            toDead.map((a) => a.claim.id),
            toDead.map((a) => a.claim.lease),
            toDead.map((a) => (a.failure.analysis ? jsonOrNull(a.failure.analysis) : null)),
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
            toRetry.map((r) => (r.ack.failure.analysis ? jsonOrNull(r.ack.failure.analysis) : null)),
            toRetry.map((r) => r.ack.failure.error),
            toRetry.map((r) => r.dueAt),
            now,
          ]);
          for (const row of retried) result.set(row.id, 'retry');
        }
        tally.failed = [...result.values()].filter((v) => v === 'dead' || v === 'retry').length;
      }
      if (finished.length > 0) await this.finishConversations(client, finished);
      return items.map((ack, i) => {
        const outcome = first[i] ? result.get(ack.claim.id) : undefined;
        return outcome ?? (ack.kind === 'complete' ? false : 'stale');
      });
    });
    const finished = tally.completed + tally.dead;
    this.counters.completed += tally.completed;
    this.counters.failed += tally.failed;
    this.counters.deadLettered += tally.dead;
    if (this.done) this.done.n += tally.completed;
    if (finished > 0) {
      this.depth -= finished;
      this.drainRate.mark(finished);
      this.capacity.observe(this.depth);
      this.notify();
    }
    return outcomes;
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
    this.assertOpen();
    const now = this.options.now();
    const { rows } = await this.retrying(() => this.pool.query<{ n: number }>(this.sql.release, [claim.id, claim.lease, now, this.channel, this.nodeId]));
    if ((rows[0]?.n ?? 0) > 0) this.notify();
  }

  // ---------------------------------------------------------------- reads

  async get(id: string): Promise<MessageRecord | undefined> {
    this.assertOpen();
    const { rows } = await this.pool.query<Row>(this.sql.get, [id]);
    return rows[0] ? record(rows[0]) : undefined;
  }

  async conversation(conversationId: string, options: ListOptions): Promise<MessageRecord[]> {
    this.assertOpen();
    const { rows } = await this.pool.query<Row>(this.sql.conversation, [conversationId, options.limit, options.offset ?? 0]);
    return rows.map(record);
  }

  async latest(conversationId: string, limit: number): Promise<MessageRecord[]> {
    this.assertOpen();
    const { rows } = await this.pool.query<Row>(this.sql.latest, [conversationId, limit]);
    return rows.map(record);
  }

  async listDead(options: ListOptions): Promise<MessageRecord[]> {
    this.assertOpen();
    const { rows } = await this.pool.query<Row>(this.sql.dead, [options.limit, options.offset ?? 0]);
    return rows.map(record);
  }

  async retryDead(ids: readonly string[] | 'all'): Promise<number> {
    this.assertOpen();
    const now = this.options.now();
    const moved = await this.tx(async (client) => {
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
    if (moved > 0) {
      this.depth += moved;
      this.capacity.observe(this.depth);
      this.notify();
    }
    return moved;
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    const byState: Record<MessageState, number> = { queued: 0, processing: 0, failed: 0, done: 0, dead: 0 };
    const byPriority = { high: 0, normal: 0, low: 0 };
    const { rows } = await this.pool.query<{ state: MessageState; priority: number; n: number; oldest: number | null }>(this.sql.counts);
    let oldest: number | null = null;
    let depth = 0;
    for (const { state, priority, n, oldest: t } of rows) {
      byState[state] += n;
      if (state === 'dead') continue;
      depth += n;
      if (state !== 'processing') {
        byPriority[PRIORITY_NAME[priority] ?? 'normal'] += n;
        if (t !== null && (oldest === null || t < oldest)) oldest = t;
      }
    }
    this.depth = depth;
    this.capacity.observe(depth);
    if (!this.done || performance.now() - this.done.at > DONE_TTL_MS) {
      const { rows: done } = await this.pool.query<{ n: number }>(this.sql.countDone);
      this.done = { n: done[0]?.n ?? 0, at: performance.now() };
    }
    byState.done = this.done.n;
    return {
      backend: this.backend,
      depth,
      byState,
      byPriority,
      limit: this.capacity.limit,
      baseLimit: this.capacity.base,
      cap: this.capacity.cap,
      growths: this.capacity.growths,
      ...this.counters,
      oldestQueuedAgeMs: oldest === null ? null : Math.max(0, this.options.now() - oldest),
    };
  }

  async nextDueAt(): Promise<number | null> {
    this.assertOpen();
    const { rows } = await this.pool.query<{ due: number | null }>(this.sql.nextDue);
    return rows[0]?.due ?? null;
  }

  onWork(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onDeadLetter(listener: (event: DeadLetterEvent) => void): () => void {
    this.deadLetterListeners.add(listener);
    return () => this.deadLetterListeners.delete(listener);
  }

  /** A caller is answered only after the COMMIT covering it returned, and a COMMIT is durable. */
  synced(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Deletes done messages created before the retention window, oldest first, in chunks. `seq`
   * follows arrival, so the cut-off is found by a binary search on the primary key. Any node
   * may purge; concurrent purges only find less to delete.
   */
  async purge(olderThanMs: number): Promise<number> {
    this.assertOpen();
    const cutoff = await this.lastSeqCreatedBefore(this.options.now() - olderThanMs);
    if (cutoff === undefined) return 0;
    let removed = 0;
    while (!this.closed) {
      const { rowCount } = await this.pool.query(this.sql.purgeChunk, [cutoff, PURGE_CHUNK]);
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < PURGE_CHUNK) break;
    }
    if (!this.closed) await this.pool.query(this.sql.purgeConversations);
    if (this.done) this.done.n = Math.max(0, this.done.n - removed);
    return removed;
  }

  private async lastSeqCreatedBefore(time: number): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ lo: number | null; hi: number | null }>(this.sql.seqBounds);
    const { lo, hi } = rows[0] ?? { lo: null, hi: null };
    if (lo === null || hi === null) return undefined;
    let low = lo;
    let high = hi;
    let found: number | undefined;
    while (low <= high) {
      const mid = Math.floor((low + high) / 2);
      const { rows: at } = await this.pool.query<{ seq: number; created_at: number }>(this.sql.createdAtFrom, [mid]);
      const row = at[0];
      if (row && row.created_at < time) {
        found = row.seq;
        low = row.seq + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.enqueues.settled();
    await this.acks.settled();
    this.closed = true;
    this.listeners.clear();
    this.deadLetterListeners.clear();
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }

  // ---------------------------------------------------------------- notifications

  /** Whether the LISTEN connection is up (false: workers are woken by polling). */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  /** Resolves once the LISTEN connection is up (tests; reconnects). */
  whenListening(): Promise<void> {
    if (this.listener) return Promise.resolve();
    return new Promise((resolve) => this.listenerWaiters.add(resolve));
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.settings.connectionString,
      application_name: `pincer-listen:${this.nodeId}`,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload !== this.nodeId) this.notify();
    });
    client.on('error', (err) => this.listenerLost(client, err));
    client.on('end', () => this.listenerLost(client, new Error('connection closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.channel)}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.reconnectDelay = 500;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    for (const resolve of this.listenerWaiters) resolve();
    this.listenerWaiters.clear();
  }

  private listenerLost(client: pg.Client, err: Error): void {
    if (this.closed || this.listener !== client) return;
    this.listener = undefined;
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    this.log?.warn({ err, event: 'store.listen' }, `lost the PostgreSQL LISTEN connection (${err.message}); polling every ${this.settings.pollMs} ms while reconnecting`);
    this.pollTimer ??= setInterval(() => this.notify(), this.settings.pollMs);
    this.pollTimer.unref();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.connectListener()
        .then(() => {
          if (this.closed) return;
          this.log?.info({ event: 'store.listen' }, 'PostgreSQL LISTEN connection restored; polling stopped');
          // Anything notified while it was down was missed: look once.
          this.notify();
        })
        .catch((err: unknown) => {
          this.reconnectDelay = Math.min(LISTEN_RETRY_MAX_MS, this.reconnectDelay * 2);
          this.log?.warn({ err, event: 'store.listen' }, `could not restore the LISTEN connection; trying again in ${this.reconnectDelay} ms`);
          this.scheduleReconnect();
        });
    }, this.reconnectDelay);
    this.reconnectTimer.unref();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  // ---------------------------------------------------------------- plumbing

  private async refreshDepth(): Promise<void> {
    const { rows } = await this.pool.query<{ n: number }>(this.sql.depth);
    this.depth = rows[0]?.n ?? 0;
  }

  /** Run `fn` in a transaction, again from the start after a deadlock or serialisation failure. */
  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        if (attempt < TX_ATTEMPTS && isTransient(err)) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt < TX_ATTEMPTS && isTransient(err)) continue;
        throw err;
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new PincerError('QUEUE_CLOSED', 'the queue is closed (Pincer is shutting down)', 503);
  }
}

/** pg's connection errors are often AggregateErrors with an empty message. */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return [...new Set(err.errors.map(describeError))].join('; ');
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : err.name);
  }
  return String(err);
}


/** A random row of the depth counter. */
function slot(): number {
  return Math.floor(Math.random() * DEPTH_SLOTS);
}

function isTransient(err: unknown): boolean {
  if (err instanceof RetryTransaction) return true;
  const code = (err as { code?: unknown }).code;
  // deadlock_detected, serialization_failure, unique_violation (a concurrent idempotency key)
  return code === '40P01' || code === '40001' || code === '23505';
}

function buildSql(s: string) {
  const messages = `${s}.messages`;
  const conversations = `${s}.conversations`;
  const depthSlots = `${s}.depth_slots`;
  const ACTIVE = ACTIVE_STATES_SQL;
  return {
    depth: `SELECT sum(n)::bigint AS n FROM ${depthSlots}`,
    /** Existing idempotency keys and the cluster-wide depth: one round trip. */
    enqueueLookup: `
      SELECT 'k' AS kind, id, conversation_id, state, idempotency_key, 0::bigint AS n FROM ${messages} WHERE idempotency_key = ANY($1::text[])
      UNION ALL
      SELECT 'd', NULL, NULL, NULL, NULL, sum(n)::bigint FROM ${depthSlots}`,
    revived: `
      WITH d AS (UPDATE ${depthSlots} SET n = n + $1 WHERE slot = $2)
      SELECT pg_notify($3, $4)`,
    /** Counts new messages in and locks each conversation's row, in id order (creating it if needed). */
    lockForEnqueue: `
      INSERT INTO ${conversations} AS c (id, active)
      SELECT id, n FROM unnest($1::text[], $2::int[]) AS t(id, n) ORDER BY id COLLATE "C"
      ON CONFLICT (id) DO UPDATE SET active = c.active + EXCLUDED.active
      RETURNING c.id, c.active`,
    lockConversations: `SELECT id FROM ${conversations} WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE`,
    insert: `
      WITH ins AS (
        INSERT INTO ${messages} (id, conversation_id, idempotency_key, text, sender, channel, priority, metadata, state, head, rank, due_at, created_at, updated_at)
        SELECT id, conversation_id, idempotency_key, text, sender, channel, priority, metadata::jsonb, 'queued', head, rank, $11, $11, $11
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::text[], $9::boolean[], $10::bigint[])
          WITH ORDINALITY AS t(id, conversation_id, idempotency_key, text, sender, channel, priority, metadata, head, rank, ord)
        ORDER BY ord
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING 1
      ), d AS (
        -- Reads ins, so it runs after the insert: the slot is the transaction's last lock.
        UPDATE ${depthSlots} SET n = n + (SELECT count(*) FROM ins) WHERE slot = $14
      )
      SELECT (SELECT count(*) FROM ins) AS n, pg_notify($12, $13)`,
    /**
     * A claim is committed without waiting for its WAL flush (synchronous_commit off for this
     * transaction only): losing it in a database crash only re-delivers the message, and any
     * later durable commit (an ack) flushes it first.
     */
    claim: `
      WITH c AS (
        SELECT seq, state, attempts FROM ${messages}
        WHERE head AND state IN ${ACTIVE} AND due_at <= $1
          AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL
        ORDER BY rank LIMIT $2
        FOR UPDATE SKIP LOCKED
      ), u AS (
        UPDATE ${messages} m SET state = 'processing', attempts = m.attempts + 1, lease = m.lease + 1, due_at = $3, started_at = $1, updated_at = $1
        FROM c WHERE m.seq = c.seq AND NOT (c.state = 'processing' AND c.attempts >= $4)
        RETURNING m.*
      )
      SELECT u.*, false AS expired FROM u
      UNION ALL
      SELECT m.*, true FROM ${messages} m JOIN c ON m.seq = c.seq WHERE c.state = 'processing' AND c.attempts >= $4`,
    expireToDead: `
      UPDATE ${messages} m SET state = 'dead', head = false, last_error = t.error, finished_at = $4, updated_at = $4
      FROM unnest($1::text[], $2::int[], $3::text[]) AS t(id, lease, error)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing' AND m.due_at <= $4
      RETURNING m.id, m.conversation_id, m.attempts, m.last_error`,
    extend: `
      UPDATE ${messages} m SET due_at = $3, updated_at = $4
      FROM unnest($1::text[], $2::int[]) AS t(id, lease)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id`,
    conversationsOf: `SELECT id, conversation_id FROM ${messages} WHERE id = ANY($1::text[])`,
    complete: `
      UPDATE ${messages} m SET state = 'done', head = false, analysis = t.analysis::jsonb, reply = t.reply::jsonb, last_error = NULL, finished_at = $5, updated_at = $5
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS t(id, lease, analysis, reply)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id, m.conversation_id`,
    leasedAttempts: `
      SELECT m.id, m.attempts FROM ${messages} m JOIN unnest($1::text[], $2::int[]) AS t(id, lease) ON m.id = t.id AND m.lease = t.lease
      WHERE m.state = 'processing' FOR UPDATE OF m`,
    failToDead: `
      UPDATE ${messages} m SET state = 'dead', head = false, analysis = coalesce(t.analysis::jsonb, m.analysis), last_error = t.error, finished_at = $5, updated_at = $5
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS t(id, lease, analysis, error)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id, m.conversation_id`,
    failToRetry: `
      UPDATE ${messages} m SET state = 'failed', analysis = coalesce(t.analysis::jsonb, m.analysis), last_error = t.error, due_at = t.due_at, updated_at = $6
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[]) AS t(id, lease, analysis, error, due_at)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id`,
    /** Count finished messages out of their (locked) conversations and promote each next head. */
    finish: `
      WITH d AS (
        UPDATE ${conversations} c SET active = c.active - t.n
        FROM unnest($1::text[], $2::int[]) AS t(id, n) WHERE c.id = t.id
        RETURNING c.id, c.active
      ), p AS (
        UPDATE ${messages} SET head = true
        WHERE seq IN (
          SELECT (SELECT m.seq FROM ${messages} m WHERE m.conversation_id = d.id AND m.state IN ${ACTIVE} ORDER BY m.seq LIMIT 1)
          FROM d WHERE d.active > 0
        ) AND NOT head
        RETURNING 1
      ), dd AS (
        UPDATE ${depthSlots} SET n = n - $5 WHERE slot = $6
      )
      SELECT promoted, CASE WHEN promoted > 0 THEN pg_notify($3, $4) END FROM (SELECT count(*) AS promoted FROM p) x`,
    release: `
      WITH u AS (
        UPDATE ${messages} SET state = 'queued', attempts = attempts - 1, due_at = $3, updated_at = $3
        WHERE id = $1 AND lease = $2 AND state = 'processing'
        RETURNING 1
      ), n AS (SELECT count(*) AS n FROM u)
      SELECT n, CASE WHEN n > 0 THEN pg_notify($4, $5) END FROM n`,
    get: `SELECT * FROM ${messages} WHERE id = $1`,
    conversation: `SELECT * FROM ${messages} WHERE conversation_id = $1 ORDER BY seq LIMIT $2 OFFSET $3`,
    latest: `SELECT * FROM (SELECT * FROM ${messages} WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2) t ORDER BY seq`,
    dead: `SELECT * FROM ${messages} WHERE state = 'dead' ORDER BY finished_at DESC, seq DESC LIMIT $1 OFFSET $2`,
    deadTargets: `SELECT id, conversation_id FROM ${messages} WHERE state = 'dead' AND ($1::text[] IS NULL OR id = ANY($1::text[])) ORDER BY seq`,
    revive: `
      WITH r AS (
        UPDATE ${messages} SET state = 'queued', attempts = 0, head = false, due_at = $2, finished_at = NULL, updated_at = $2
        WHERE id = $1 AND state = 'dead'
        RETURNING conversation_id
      )
      UPDATE ${conversations} c SET active = c.active + 1 FROM r WHERE c.id = r.conversation_id RETURNING c.id`,
    /**
     * Make the oldest unfinished message the head, unless the head is being processed. The
     * demotion re-checks the state after any concurrent claim, so a message a worker just took
     * is never demoted.
     */
    demoteWaitingHead: `UPDATE ${messages} SET head = false WHERE conversation_id = $1 AND head AND state IN ('queued','failed')`,
    nextDue: `SELECT min(due_at) AS due FROM ${messages} WHERE head AND state IN ${ACTIVE}`,
    counts: `
      SELECT state, priority, count(*) AS n, min(created_at) AS oldest FROM ${messages} WHERE state IN ${ACTIVE} GROUP BY state, priority
      UNION ALL
      SELECT 'dead', 0, count(*), NULL FROM ${messages} WHERE state = 'dead'`,
    countDone: `SELECT count(*) AS n FROM ${messages} WHERE state = 'done'`,
    seqBounds: `SELECT min(seq) AS lo, max(seq) AS hi FROM ${messages}`,
    createdAtFrom: `SELECT seq, created_at FROM ${messages} WHERE seq >= $1 ORDER BY seq LIMIT 1`,
    purgeChunk: `DELETE FROM ${messages} WHERE seq IN (SELECT seq FROM ${messages} WHERE seq <= $1 AND state = 'done' LIMIT $2)`,
    /** Conversations with nothing unfinished need no row; an enqueue creates it again. */
    purgeConversations: `DELETE FROM ${conversations} WHERE active = 0`,
    promoteOldest: `
      UPDATE ${messages} SET head = true
      WHERE seq = (SELECT seq FROM ${messages} WHERE conversation_id = $1 AND state IN ${ACTIVE} ORDER BY seq LIMIT 1)
        AND NOT head
        AND NOT EXISTS (SELECT 1 FROM ${messages} WHERE conversation_id = $1 AND head AND state IN ${ACTIVE})`,
  };
}

function record(row: Row): MessageRecord {
  // node-postgres has parsed the jsonb columns already.
  return toRecord(row, (value) => value);
}
