import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { PincerError, QueueFullError } from '../errors.js';
import { QueueCapacity } from './capacity.js';
import { FileSyncer } from './file-syncer.js';
import { GroupCommit } from './group-commit.js';
import { timeOrderedId } from './ids.js';
import { RateMeter, retryAfterSeconds } from './rate-meter.js';
import { PRIORITY_CODE, PRIORITY_NAME, rankOf, retryDelay } from './ranking.js';
import { jsonOrNull, toRecord, type MessageRow } from './rows.js';
import { ACTIVE_STATES_SQL, migrate } from './sqlite-schema.js';
import type {
  ClaimedMessage,
  Completion,
  DeadLetterEvent,
  EnqueueRequest,
  EnqueueResult,
  Failure,
  FailOutcome,
  ListOptions,
  MessageRecord,
  MessageState,
  Queue,
  QueueOptions,
  QueueStats,
} from './types.js';

type Row = MessageRow<string>;

type Claim = Pick<ClaimedMessage, 'id' | 'lease'>;

const PURGE_CHUNK = 2000;
type Ack =
  | { kind: 'complete'; claim: Claim; completion: Completion }
  | { kind: 'fail'; claim: Claim; failure: Failure };

/**
 * The embedded backend: one SQLite file in WAL mode, owned by one Pincer process (the file is
 * opened with an exclusive lock, so a second process on the same data folder is refused).
 * Enqueues and acks are group-committed, and no caller is answered before an fdatasync of the
 * WAL that covers its commit has completed (see FileSyncer).
 */
export class SqliteQueue implements Queue {
  readonly backend = 'sqlite';
  private readonly db: Database.Database;
  private readonly options: Required<QueueOptions>;
  private readonly capacity: QueueCapacity;
  private readonly enqueues: GroupCommit<EnqueueRequest, EnqueueResult>;
  private readonly acks: GroupCommit<Ack, boolean | FailOutcome>;
  private readonly listeners = new Set<() => void>();
  private readonly deadLetterListeners = new Set<(event: DeadLetterEvent) => void>();
  private readonly drainRate: RateMeter;
  private depth: number;
  private counters = { enqueued: 0, completed: 0, failed: 0, deadLettered: 0, rejected: 0 };
  /** Done messages in the store; counted on first use (a full scan), then kept up to date. */
  private doneTotal: number | undefined;
  private closed = false;
  private readonly stmt: ReturnType<SqliteQueue['prepare']>;
  /** fdatasyncs the WAL off the event loop; absent for ':memory:'. */
  private readonly wal: FileSyncer | undefined;
  private wakeAfterSync = false;

  constructor(
    readonly file: string,
    options: QueueOptions,
    private readonly log?: Logger,
  ) {
    this.options = { now: Date.now, ...options };
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = openDatabase(file);
    migrate(this.db);
    this.stmt = this.prepare();
    this.recoverOrphans();
    this.depth = (this.db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE state IN ${ACTIVE_STATES_SQL}`).get() as { n: number }).n;
    this.drainRate = new RateMeter(10, this.options.now);
    this.capacity = new QueueCapacity(options.maxLength, options.maxLengthCap, (change) => {
      this.log?.warn(
        { event: 'queue.limit', ...change },
        change.kind === 'grow'
          ? `queue over 80% full (${change.depth} waiting): limit grown from ${change.from} to ${change.to}`
          : `queue drained (${change.depth} waiting): limit back to ${change.to}`,
      );
    });
    this.capacity.observe(this.depth);
    this.wal = file === ':memory:' ? undefined : new FileSyncer(`${file}-wal`);
    const wal = this.wal;
    // Workers see new messages only once they are durable: a power cut must not erase a
    // message whose side effects already ran. It is the same sync the callers wait for.
    const enqueuesDurable = wal
      ? async () => {
          await wal.sync();
          if (this.wakeAfterSync) {
            this.wakeAfterSync = false;
            this.notify();
          }
        }
      : undefined;
    this.enqueues = new GroupCommit((items) => this.writeEnqueues(items), options.commitBatch, enqueuesDurable);
    this.acks = new GroupCommit((items) => this.writeAcks(items), options.commitBatch, wal ? () => wal.sync() : undefined);
  }

  private prepare() {
    const db = this.db;
    return {
      byKey: db.prepare<[string], Pick<Row, 'id' | 'conversation_id' | 'state'>>('SELECT id, conversation_id, state FROM messages WHERE idempotency_key = ?'),
      hasActive: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM messages WHERE conversation_id = ? AND state IN ${ACTIVE_STATES_SQL} LIMIT 1`),
      insert: db.prepare(
        `INSERT INTO messages (id, conversation_id, idempotency_key, text, sender, channel, priority, metadata, state, head, rank, due_at, created_at, updated_at)
         VALUES (@id, @conversation_id, @idempotency_key, @text, @sender, @channel, @priority, @metadata, 'queued', @head, @rank, @due_at, @created_at, @created_at)`,
      ),
      claimable: db.prepare<[number, number], Row>(
        `SELECT * FROM messages WHERE head = 1 AND state IN ${ACTIVE_STATES_SQL} AND due_at <= ? ORDER BY rank LIMIT ?`,
      ),
      markProcessing: db.prepare<[number, number, number, number, string]>(
        `UPDATE messages SET state = 'processing', attempts = attempts + 1, lease = lease + 1, due_at = ?, started_at = ?, updated_at = ? WHERE seq = ? AND id = ?`,
      ),
      expireToDead: db.prepare<[string, number, number, number]>(
        `UPDATE messages SET state = 'dead', head = 0, last_error = ?, finished_at = ?, updated_at = ? WHERE seq = ?`,
      ),
      extend: db.prepare<[number, number, string, number]>(
        `UPDATE messages SET due_at = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'processing'`,
      ),
      complete: db.prepare<[string | null, string, number, number, string, number], Pick<Row, 'conversation_id'>>(
        `UPDATE messages SET state = 'done', head = 0, analysis = ?, reply = ?, last_error = NULL, finished_at = ?, updated_at = ?
         WHERE id = ? AND lease = ? AND state = 'processing' RETURNING conversation_id`,
      ),
      claimedRow: db.prepare<[string, number], Pick<Row, 'conversation_id' | 'attempts'>>(
        `SELECT conversation_id, attempts FROM messages WHERE id = ? AND lease = ? AND state = 'processing'`,
      ),
      toDead: db.prepare<[string | null, string, number, number, string]>(
        `UPDATE messages SET state = 'dead', head = 0, analysis = coalesce(?, analysis), last_error = ?, finished_at = ?, updated_at = ? WHERE id = ?`,
      ),
      toRetry: db.prepare<[string | null, string, number, number, string]>(
        `UPDATE messages SET state = 'failed', analysis = coalesce(?, analysis), last_error = ?, due_at = ?, updated_at = ? WHERE id = ?`,
      ),
      release: db.prepare<[number, number, string, number]>(
        `UPDATE messages SET state = 'queued', attempts = attempts - 1, due_at = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'processing'`,
      ),
      promoteNext: db.prepare<[string]>(
        `UPDATE messages SET head = 1 WHERE seq = (SELECT seq FROM messages WHERE conversation_id = ? AND state IN ${ACTIVE_STATES_SQL} ORDER BY seq LIMIT 1) AND head = 0`,
      ),
      get: db.prepare<[string], Row>('SELECT * FROM messages WHERE id = ?'),
      conversation: db.prepare<[string, number, number], Row>('SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq LIMIT ? OFFSET ?'),
      latest: db.prepare<[string, number], Row>('SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
      dead: db.prepare<[number, number], Row>(`SELECT * FROM messages WHERE state = 'dead' ORDER BY finished_at DESC LIMIT ? OFFSET ?`),
      deadIds: db.prepare<[], Pick<Row, 'id'>>(`SELECT id FROM messages WHERE state = 'dead'`),
      revive: db.prepare<[number, number, string], Pick<Row, 'conversation_id'>>(
        `UPDATE messages SET state = 'queued', attempts = 0, head = 0, due_at = ?, finished_at = NULL, updated_at = ? WHERE id = ? AND state = 'dead' RETURNING conversation_id`,
      ),
      headOf: db.prepare<[string], { seq: number; state: MessageState }>(`SELECT seq, state FROM messages WHERE conversation_id = ? AND head = 1 AND state IN ${ACTIVE_STATES_SQL}`),
      demote: db.prepare<[number]>('UPDATE messages SET head = 0 WHERE seq = ?'),
      nextDue: db.prepare<[], { due: number | null }>(`SELECT MIN(due_at) AS due FROM messages WHERE head = 1 AND state IN ${ACTIVE_STATES_SQL}`),
      countByState: db.prepare<[], { state: MessageState; priority: number; n: number }>(
        `SELECT state, priority, COUNT(*) AS n FROM messages WHERE state IN ${ACTIVE_STATES_SQL} GROUP BY state, priority`,
      ),
      countDone: db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE state = 'done'`),
      seqBounds: db.prepare<[], { lo: number | null; hi: number | null }>('SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM messages'),
      createdAtFrom: db.prepare<[number], { seq: number; created_at: number }>('SELECT seq, created_at FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1'),
      purgeChunk: db.prepare<[number, number]>(`DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE seq <= ? AND state = 'done' LIMIT ?)`),
      countDead: db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE state = 'dead'`),
      // The ACTIVE_STATES_SQL term lets SQLite use the (small) partial index instead of the whole table.
      oldestWaiting: db.prepare<[], { t: number | null }>(`SELECT MIN(created_at) AS t FROM messages WHERE state IN ${ACTIVE_STATES_SQL} AND state <> 'processing'`),
    };
  }

  /**
   * This process holds the file exclusively, so anything left "processing" belongs to a
   * previous run that died: make it claimable now instead of waiting out its lease.
   */
  private recoverOrphans(): void {
    const now = this.options.now();
    const result = this.db
      .prepare(`UPDATE messages SET due_at = ?, updated_at = ? WHERE state = 'processing'`)
      .run(now, now);
    if (result.changes > 0) {
      this.log?.warn({ event: 'queue.recovered', count: result.changes }, `re-delivering ${result.changes} message(s) left in processing by a previous run`);
    }
  }

  enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    this.assertWritable();
    return this.enqueues.submit(request);
  }

  private writeEnqueues(items: EnqueueRequest[]): Array<EnqueueResult | Error> {
    const now = this.options.now();
    let depth = this.depth;
    let admitted = 0;
    let rejected = 0;
    const outcomes = this.write(() =>
      items.map((item): EnqueueResult | Error => {
        if (item.idempotencyKey) {
          const existing = this.stmt.byKey.get(item.idempotencyKey);
          if (existing) return { id: existing.id, conversationId: existing.conversation_id, status: existing.state, duplicate: true };
        }
        if (!this.capacity.admits(depth)) {
          rejected++;
          return new QueueFullError(depth, this.capacity.limit, retryAfterSeconds(this.capacity.limit, this.drainRate.perSecond()));
        }
        const id = timeOrderedId(now);
        this.stmt.insert.run({
          id,
          conversation_id: item.conversationId,
          idempotency_key: item.idempotencyKey ?? null,
          text: item.text,
          sender: item.sender ?? null,
          channel: item.channel,
          priority: PRIORITY_CODE[item.priority],
          metadata: item.metadata ? JSON.stringify(item.metadata) : null,
          head: this.stmt.hasActive.get(item.conversationId) ? 0 : 1,
          rank: rankOf(item.priority, now, this.options.agingMs),
          due_at: now,
          created_at: now,
        });
        depth++;
        admitted++;
        this.capacity.observe(depth);
        return { id, conversationId: item.conversationId, status: 'queued', duplicate: false };
      }),
    );
    this.depth = depth;
    this.counters.enqueued += admitted;
    this.counters.rejected += rejected;
    if (admitted > 0) {
      if (this.wal) this.wakeAfterSync = true;
      else this.notify();
    }
    return outcomes;
  }

  async claim(max: number): Promise<ClaimedMessage[]> {
    this.assertOpen();
    if (max <= 0) return [];
    const now = this.options.now();
    const leaseUntil = now + this.options.leaseMs;
    const expired: DeadLetterEvent[] = [];
    const claimed = this.write(() => {
      const out: ClaimedMessage[] = [];
      for (const row of this.stmt.claimable.all(now, max)) {
        if (row.state === 'processing' && row.attempts >= this.options.maxAttempts) {
          // The lease ran out on the last allowed attempt: the worker crashed or hung every time.
          const error = `lease expired on attempt ${row.attempts} of ${this.options.maxAttempts}: the worker crashed or hung`;
          this.stmt.expireToDead.run(error, now, now, row.seq);
          this.stmt.promoteNext.run(row.conversation_id);
          expired.push({ id: row.id, attempts: row.attempts, error });
          continue;
        }
        this.stmt.markProcessing.run(leaseUntil, now, now, row.seq, row.id);
        out.push({ ...record(row), state: 'processing', attempts: row.attempts + 1, startedAt: now, updatedAt: now, lease: row.lease + 1, leaseUntil });
      }
      return out;
    });
    if (expired.length > 0) {
      this.depth -= expired.length;
      this.counters.deadLettered += expired.length;
      this.capacity.observe(this.depth);
      for (const event of expired) for (const listener of this.deadLetterListeners) listener(event);
      this.notify();
    }
    return claimed;
  }

  async extendLeases(claims: readonly Claim[]): Promise<string[]> {
    this.assertOpen();
    const now = this.options.now();
    const lost: string[] = [];
    this.write(() => {
      for (const claim of claims) {
        if (this.stmt.extend.run(now + this.options.leaseMs, now, claim.id, claim.lease).changes === 0) lost.push(claim.id);
      }
    });
    return lost;
  }

  async complete(claim: Claim, completion: Completion): Promise<boolean> {
    this.assertWritable();
    return (await this.acks.submit({ kind: 'complete', claim, completion })) as boolean;
  }

  async fail(claim: Claim, failure: Failure): Promise<FailOutcome> {
    this.assertWritable();
    return (await this.acks.submit({ kind: 'fail', claim, failure })) as FailOutcome;
  }

  private writeAcks(items: Ack[]): Array<boolean | FailOutcome> {
    const now = this.options.now();
    let finished = 0;
    let completed = 0;
    let failed = 0;
    let dead = 0;
    const outcomes = this.write(() =>
      items.map((ack): boolean | FailOutcome => {
        if (ack.kind === 'complete') {
          const { analysis, reply } = ack.completion;
          const row = this.stmt.complete.get(jsonOrNull(analysis), JSON.stringify(reply), now, now, ack.claim.id, ack.claim.lease);
          if (!row) return false;
          this.stmt.promoteNext.run(row.conversation_id);
          finished++;
          completed++;
          return true;
        }
        const row = this.stmt.claimedRow.get(ack.claim.id, ack.claim.lease);
        if (!row) return 'stale';
        failed++;
        const analysis = ack.failure.analysis ? jsonOrNull(ack.failure.analysis) : null;
        if (ack.failure.retryable === false || row.attempts >= this.options.maxAttempts) {
          this.stmt.toDead.run(analysis, ack.failure.error, now, now, ack.claim.id);
          this.stmt.promoteNext.run(row.conversation_id);
          finished++;
          dead++;
          return 'dead';
        }
        this.stmt.toRetry.run(analysis, ack.failure.error, now + retryDelay(row.attempts, this.options), now, ack.claim.id);
        return 'retry';
      }),
    );
    this.depth -= finished;
    if (this.doneTotal !== undefined) this.doneTotal += completed;
    this.counters.completed += completed;
    this.counters.failed += failed;
    this.counters.deadLettered += dead;
    if (finished > 0) {
      this.drainRate.mark(finished);
      this.capacity.observe(this.depth);
      this.notify();
    }
    return outcomes;
  }

  async release(claim: Claim): Promise<void> {
    this.assertOpen();
    const now = this.options.now();
    if (this.write(() => this.stmt.release.run(now, now, claim.id, claim.lease).changes) > 0) this.notify();
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    this.assertOpen();
    const row = this.stmt.get.get(id);
    return row ? record(row) : undefined;
  }

  async conversation(conversationId: string, options: ListOptions): Promise<MessageRecord[]> {
    this.assertOpen();
    return this.stmt.conversation.all(conversationId, options.limit, options.offset ?? 0).map(record);
  }

  async latest(conversationId: string, limit: number): Promise<MessageRecord[]> {
    this.assertOpen();
    return this.stmt.latest.all(conversationId, limit).map(record);
  }

  async listDead(options: ListOptions): Promise<MessageRecord[]> {
    this.assertOpen();
    return this.stmt.dead.all(options.limit, options.offset ?? 0).map(record);
  }

  async retryDead(ids: readonly string[] | 'all'): Promise<number> {
    this.assertOpen();
    const now = this.options.now();
    const moved = this.write(() => {
      const targets = ids === 'all' ? this.stmt.deadIds.all().map((r) => r.id) : ids;
      let n = 0;
      for (const id of targets) {
        const row = this.stmt.revive.get(now, now, id);
        if (!row) continue;
        // The oldest unfinished message must be the head. A head that is being processed
        // cannot be taken back; otherwise the head moves to the oldest, which may be this one.
        const head = this.stmt.headOf.get(row.conversation_id);
        if (head && head.state !== 'processing') this.stmt.demote.run(head.seq);
        if (!head || head.state !== 'processing') this.stmt.promoteNext.run(row.conversation_id);
        n++;
      }
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
    for (const { state, priority, n } of this.stmt.countByState.all()) {
      byState[state] += n;
      if (state !== 'processing') byPriority[PRIORITY_NAME[priority] ?? 'normal'] += n;
    }
    this.doneTotal ??= this.stmt.countDone.get()?.n ?? 0;
    byState.done = this.doneTotal;
    byState.dead = this.stmt.countDead.get()?.n ?? 0;
    const oldest = this.stmt.oldestWaiting.get()?.t ?? null;
    return {
      backend: this.backend,
      depth: this.depth,
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
    return this.stmt.nextDue.get()?.due ?? null;
  }

  onWork(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onDeadLetter(listener: (event: DeadLetterEvent) => void): () => void {
    this.deadLetterListeners.add(listener);
    return () => this.deadLetterListeners.delete(listener);
  }

  synced(): Promise<void> {
    return this.wal ? this.wal.sync() : Promise.resolve();
  }

  /**
   * Deletes done messages created before the retention window, oldest first, in small
   * transactions with a yield between them so a large purge never stalls the event loop.
   * `seq` follows arrival, so the cut-off is found by a binary search on the primary key.
   */
  async purge(olderThanMs: number): Promise<number> {
    this.assertOpen();
    const cutoff = this.lastSeqCreatedBefore(this.options.now() - olderThanMs);
    if (cutoff === undefined) return 0;
    let removed = 0;
    for (;;) {
      if (this.closed) break;
      const changes = this.write(() => this.stmt.purgeChunk.run(cutoff, PURGE_CHUNK).changes);
      removed += changes;
      if (this.doneTotal !== undefined) this.doneTotal -= changes;
      if (changes < PURGE_CHUNK) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return removed;
  }

  private lastSeqCreatedBefore(time: number): number | undefined {
    const { lo, hi } = this.stmt.seqBounds.get() ?? { lo: null, hi: null };
    if (lo === null || hi === null) return undefined;
    let low = lo;
    let high = hi;
    let found: number | undefined;
    while (low <= high) {
      const mid = Math.floor((low + high) / 2);
      const row = this.stmt.createdAtFrom.get(mid);
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
    if (this.wal?.failed) throw this.wal.failed;
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.enqueues.settled();
    await this.acks.settled();
    this.closed = true;
    this.listeners.clear();
    this.deadLetterListeners.clear();
    this.wal?.close();
    this.db.close();
  }

  /** Every write goes through here, so the WAL syncer knows what a sync must cover. */
  private write<T>(fn: () => T): T {
    const result = this.db.transaction(fn)();
    this.wal?.noteWrite();
    return result;
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** After a failed fdatasync nothing new may be written: it could not be made durable. */
  private assertWritable(): void {
    this.assertOpen();
    if (this.wal?.failed) throw new PincerError('STORE_UNAVAILABLE', `the store cannot make writes durable: ${this.wal.failed.message}`, 503);
  }

  private assertOpen(): void {
    if (this.closed) throw new PincerError('QUEUE_CLOSED', 'the queue is closed (Pincer is shutting down)', 503);
  }
}

function openDatabase(file: string): Database.Database {
  const db = new Database(file, { timeout: 2000 });
  try {
    db.pragma('journal_mode = WAL');
    // Commits write the WAL without an fsync of their own; SqliteQueue answers a caller only
    // after FileSyncer has fdatasync'ed the WAL, off the event loop and shared by every commit
    // in between. WAL keeps commit order, so one sync covers all earlier commits.
    db.pragma('synchronous = NORMAL');
    // Hot index pages are rewritten by every commit; checkpointing less often copies each once.
    db.pragma('wal_autocheckpoint = 4000');
    db.pragma('cache_size = -16000');
    // One owner per file: the in-memory depth counter and orphan recovery rely on it. The OS
    // drops the lock when the process dies, so a restart after a crash is never blocked.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    if (file !== ':memory:') {
      // The WAL must exist before FileSyncer opens it; make its directory entry durable too.
      db.exec('CREATE TABLE IF NOT EXISTS pincer_wal_probe (x); DROP TABLE pincer_wal_probe;');
      fsyncDirectory(path.dirname(file));
    }
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new PincerError('STORE_LOCKED', `${file} is in use by another Pincer process; stop it or choose another data folder (PINCER_DATA_DIR)`, 503);
    }
    throw err;
  }
  return db;
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const parse = (text: string): unknown => JSON.parse(text);

function record(row: Row): MessageRecord {
  return toRecord(row, parse);
}
