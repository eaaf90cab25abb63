import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { errorCode, PincerError } from '../../errors.js';
import { admitBatch, isRecord, prepareEnqueue, refusedByStore, withdraw, type PreparedEnqueue } from '../core/admission.js';
import { ChannelDelegate } from '../core/channel-delegate.js';
import { QueueBook, tallyCounts } from '../core/book.js';
import { decideFailure, leaseExpiredError } from '../core/outcomes.js';
import { purgeBefore } from '../core/purge.js';
import { prepareAck, type Ack, type PreparedCompletion } from '../core/acks.js';
import { GroupCommit } from '../group-commit.js';
import { PRIORITY_CODE } from '../ranking.js';
import { toRecord, type MessageRow } from '../rows.js';
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
  Queue,
  QueueOptions,
  QueueStats,
} from '../types.js';
import { openDatabase } from './database.js';
import { SqliteAgentStore } from './agent.js';
import { SqliteChannels } from './channels.js';
import { SqliteKnowledge } from './knowledge.js';
import { SqliteMemory } from './memory.js';
import { FileSyncer } from './file-syncer.js';
import { ACTIVE_STATES_SQL, migrate } from './schema.js';
import { prepareStatements, type Statements } from './statements.js';

type Row = MessageRow<string>;
type Claim = Pick<ClaimedMessage, 'id' | 'lease'>;

/**
 * The embedded backend: one SQLite file in WAL mode, owned by one Pincer process (the file is
 * opened with an exclusive lock, so a second process on the same data folder is refused).
 * Enqueues and acks are group-committed, and no caller is answered before an fdatasync of the
 * WAL that covers its commit has completed (see FileSyncer).
 */
export class SqliteQueue extends ChannelDelegate implements Queue {
  readonly backend = 'sqlite';
  private readonly db: Database.Database;
  private readonly book: QueueBook;
  private readonly enqueues: GroupCommit<PreparedEnqueue, EnqueueResult>;
  private readonly acks: GroupCommit<Ack<PreparedCompletion>, boolean | FailOutcome>;
  /** Done messages in the store; counted on first use (a full scan), then kept up to date. */
  private doneTotal: number | undefined;
  private readonly stmt: Statements;
  /** fdatasyncs the WAL off the event loop; absent for ':memory:'. */
  private readonly wal: FileSyncer | undefined;
  private wakeAfterSync = false;
  /** The outbox, job leases and pairing (channels.ts); ChannelDelegate forwards to it. */
  protected readonly channels: SqliteChannels;
  /** The tool loop's journal and approvals (agent.ts). */
  readonly agent: SqliteAgentStore;
  private deliveriesAfterSync = false;
  /** Agent memory (memory.ts): its own tables, filled lazily, never on the enqueue or ack path. */
  readonly memory: SqliteMemory;
  /** The knowledge base (knowledge.ts): sources, chunks, their FTS5 index and vectors. */
  readonly knowledge: SqliteKnowledge;

  constructor(
    readonly file: string,
    options: QueueOptions,
    private readonly log?: Logger,
  ) {
    super();
    this.book = new QueueBook(this.backend, options, log);
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = openDatabase(file);
    migrate(this.db);
    this.stmt = prepareStatements(this.db);
    const host = { db: this.db, leaseMs: this.book.options.leaseMs, now: () => this.now, synced: () => this.synced(), isClosed: () => this.book.closed };
    const tables = { ...host, write: <T>(fn: () => T) => this.write(fn), assertOpen: () => this.book.assertOpen(), assertWritable: () => this.assertWritable() };
    this.channels = new SqliteChannels(tables, log);
    this.agent = new SqliteAgentStore(tables);
    this.memory = new SqliteMemory(tables);
    this.knowledge = new SqliteKnowledge(tables);
    this.recoverOrphans();
    this.channels.recoverAtOpen();
    this.book.setDepth((this.db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE state IN ${ACTIVE_STATES_SQL}`).get() as { n: number }).n);
    this.wal = file === ':memory:' ? undefined : new FileSyncer(`${file}-wal`);
    const wal = this.wal;
    // Workers see new messages only once they are durable: a power cut must not erase a
    // message whose side effects already ran. It is the same sync the callers wait for.
    // The flag is read before the sync starts: a batch written while this sync runs is not
    // covered by it and waits for its own.
    const enqueuesDurable = wal
      ? async () => {
          const wake = this.wakeAfterSync;
          this.wakeAfterSync = false;
          await wal.sync();
          if (wake) this.book.notifyWork();
        }
      : undefined;
    // Delivery workers, likewise, see a completion's deliveries only once they are durable.
    const acksDurable = wal
      ? async () => {
          const deliveries = this.deliveriesAfterSync;
          this.deliveriesAfterSync = false;
          await wal.sync();
          if (deliveries) this.channels.notify();
        }
      : undefined;
    this.enqueues = new GroupCommit((items) => this.writeEnqueues(items), options.commitBatch, enqueuesDurable);
    this.acks = new GroupCommit((items) => this.writeAcks(items), options.commitBatch, acksDurable);
  }

  private get now(): number {
    return this.book.options.now();
  }

  /**
   * This process holds the file exclusively, so anything left "processing" belongs to a
   * previous run that died: make it claimable now instead of waiting out its lease.
   */
  private recoverOrphans(): void {
    const now = this.now;
    const result = this.db.prepare(`UPDATE messages SET due_at = ?, updated_at = ? WHERE state = 'processing'`).run(now, now);
    if (result.changes > 0) {
      this.log?.warn({ event: 'queue.recovered', count: result.changes }, `re-delivering ${result.changes} message(s) left in processing by a previous run`);
    }
  }

  async enqueue(request: EnqueueRequest): Promise<EnqueueResult> {
    this.assertWritable();
    return this.enqueues.submit(prepareEnqueue(request, this.book.options.metadata));
  }

  private writeEnqueues(items: PreparedEnqueue[]): Array<EnqueueResult | Error> {
    const now = this.now;
    const depth = this.book.depth;
    const refused = new Map<number, Error>();
    const admission = this.write(() => {
      const known = (key: string): EnqueueResult | undefined => {
        const row = this.stmt.byKey.get(key);
        return row && { id: row.id, conversationId: row.conversation_id, status: row.state, duplicate: true };
      };
      const decided = admitBatch(items, known, this.book, depth, now);
      for (const admitted of decided.fresh) {
        const { prepared, index, id, rank } = admitted;
        const item = prepared.request;
        const record = isRecord(admitted);
        try {
          this.stmt.insert.run({
            id,
            conversation_id: item.conversationId,
            idempotency_key: item.idempotencyKey ?? null,
            text: item.text,
            sender: item.sender ?? null,
            channel: item.channel,
            priority: PRIORITY_CODE[item.priority],
            metadata: prepared.metadata,
            // A record is history, never work: it neither is nor waits to be a head.
            state: record ? 'done' : 'queued',
            head: record || this.stmt.hasActive.get(item.conversationId) ? 0 : 1,
            rank,
            due_at: now,
            created_at: now,
            finished_at: record ? now : null,
          });
        } catch (err) {
          // A statement refused for what this row holds is undone alone, and the transaction
          // and its other items stand. Anything else (a full disk, I/O) fails the batch whole.
          if (!isRowError(err) || !this.db.inTransaction) throw err;
          refused.set(index, refusedByStore(err));
        }
      }
      return decided;
    });
    withdraw(admission, refused);
    const stored = admission.fresh.filter((a) => !refused.has(a.index));
    const records = stored.filter(isRecord).length;
    const admitted = stored.length - records;
    if (admitted > 0 && this.wal) this.wakeAfterSync = true;
    if (this.doneTotal !== undefined) this.doneTotal += records;
    this.book.enqueued(depth, admitted, admission.rejected, !this.wal);
    return admission.outcomes;
  }

  async claim(max: number): Promise<ClaimedMessage[]> {
    this.book.assertOpen();
    if (max <= 0) return [];
    const now = this.now;
    const { maxAttempts, leaseMs } = this.book.options;
    const leaseUntil = now + leaseMs;
    const expired: DeadLetterEvent[] = [];
    const claimed = this.write(() => {
      const out: ClaimedMessage[] = [];
      for (const row of this.stmt.claimable.all(now, max)) {
        if (row.state === 'processing' && row.attempts >= maxAttempts) {
          const error = leaseExpiredError(row.attempts, maxAttempts);
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
    this.book.expired(expired);
    return claimed;
  }

  async extendLeases(claims: readonly Claim[]): Promise<string[]> {
    this.book.assertOpen();
    const now = this.now;
    const lost: string[] = [];
    this.write(() => {
      for (const claim of claims) {
        if (this.stmt.extend.run(now + this.book.options.leaseMs, now, claim.id, claim.lease).changes === 0) lost.push(claim.id);
      }
    });
    return lost;
  }

  async complete(claim: Claim, completion: Completion): Promise<boolean> {
    this.assertWritable();
    return (await this.acks.submit(prepareAck({ kind: 'complete', claim, completion }))) as boolean;
  }

  async fail(claim: Claim, failure: Failure): Promise<FailOutcome> {
    this.assertWritable();
    return (await this.acks.submit(prepareAck({ kind: 'fail', claim, failure }))) as FailOutcome;
  }

  private writeAcks(items: Array<Ack<PreparedCompletion>>): Array<boolean | FailOutcome> {
    const now = this.now;
    const tally = { completed: 0, failed: 0, dead: 0 };
    let deliveries = 0;
    const outcomes = this.write(() =>
      items.map((ack): boolean | FailOutcome => {
        if (ack.kind === 'complete') {
          const row = this.stmt.complete.get(ack.completion.analysis, ack.completion.reply, now, now, ack.claim.id, ack.claim.lease);
          if (!row) return false;
          this.stmt.promoteNext.run(row.conversation_id);
          deliveries += this.channels.insertPrepared(ack.completion.deliveries, now);
          tally.completed++;
          return true;
        }
        const row = this.stmt.claimedRow.get(ack.claim.id, ack.claim.lease);
        if (!row) return 'stale';
        tally.failed++;
        const decision = decideFailure(row.attempts, ack.failure, this.book.options, now);
        if (decision.kind === 'dead') {
          this.stmt.toDead.run(ack.failure.analysis, ack.failure.error, now, now, ack.claim.id);
          this.stmt.promoteNext.run(row.conversation_id);
          tally.dead++;
          return 'dead';
        }
        this.stmt.toRetry.run(ack.failure.analysis, ack.failure.error, decision.dueAt, now, ack.claim.id);
        return 'retry';
      }),
    );
    if (this.doneTotal !== undefined) this.doneTotal += tally.completed;
    this.book.acked(tally);
    if (deliveries > 0) {
      if (this.wal) this.deliveriesAfterSync = true;
      else this.channels.notify();
    }
    return outcomes;
  }

  async release(claim: Claim): Promise<void> {
    this.book.assertOpen();
    const now = this.now;
    if (this.write(() => this.stmt.release.run(now, now, claim.id, claim.lease).changes) > 0) this.book.notifyWork();
  }

  async get(id: string): Promise<MessageRecord | undefined> {
    this.book.assertOpen();
    const row = this.stmt.get.get(id);
    return row ? record(row) : undefined;
  }

  async conversation(conversationId: string, options: ListOptions): Promise<MessageRecord[]> {
    this.book.assertOpen();
    return this.stmt.conversation.all(conversationId, options.limit, options.offset ?? 0).map(record);
  }

  async latest(conversationId: string, limit: number): Promise<MessageRecord[]> {
    this.book.assertOpen();
    return this.stmt.latest.all(conversationId, limit).map(record);
  }

  async listDead(options: ListOptions): Promise<MessageRecord[]> {
    this.book.assertOpen();
    return this.stmt.dead.all(options.limit, options.offset ?? 0).map(record);
  }

  async retryDead(ids: readonly string[] | 'all'): Promise<number> {
    this.book.assertOpen();
    const now = this.now;
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
    this.book.revived(moved);
    return moved;
  }

  async stats(): Promise<QueueStats> {
    this.book.assertOpen();
    const { counts } = tallyCounts(this.stmt.countByState.all());
    this.doneTotal ??= this.stmt.countDone.get()?.n ?? 0;
    counts.byState.done = this.doneTotal;
    counts.byState.dead = this.stmt.countDead.get()?.n ?? 0;
    return this.book.stats(counts, this.book.depth, this.stmt.oldestWaiting.get()?.t ?? null);
  }

  async nextDueAt(): Promise<number | null> {
    this.book.assertOpen();
    return this.stmt.nextDue.get()?.due ?? null;
  }

  onWork(listener: () => void): () => void {
    return this.book.work.add(listener);
  }

  onDeadLetter(listener: (event: DeadLetterEvent) => void): () => void {
    return this.book.deadLetters.add(listener);
  }

  synced(): Promise<void> {
    return this.wal ? this.wal.sync() : Promise.resolve();
  }

  async purge(olderThanMs: number): Promise<number> {
    this.book.assertOpen();
    return purgeBefore(this.now - olderThanMs, {
      bounds: () => this.stmt.seqBounds.get() ?? { lo: null, hi: null },
      firstFrom: (seq) => this.stmt.createdAtFrom.get(seq),
      deleteChunk: (cutoff, limit) => {
        const changes = this.write(() => this.stmt.purgeChunk.run(cutoff, limit).changes);
        if (this.doneTotal !== undefined) this.doneTotal -= changes;
        return changes;
      },
      stopped: () => this.book.closed,
    });
  }

  async ping(): Promise<void> {
    this.book.assertOpen();
    if (this.wal?.failed) throw this.wal.failed;
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.book.closed) return;
    await this.enqueues.settled();
    await this.acks.settled();
    this.book.markClosed();
    this.channels.close();
    this.wal?.close();
    this.db.close();
  }

  /** Every write goes through here, so the WAL syncer knows what a sync must cover. */
  private write<T>(fn: () => T): T {
    const result = this.db.transaction(fn)();
    this.wal?.noteWrite();
    return result;
  }

  /** After a failed fdatasync nothing new may be written: it could not be made durable. */
  private assertWritable(): void {
    this.book.assertOpen();
    if (this.wal?.failed) throw new PincerError('STORE_UNAVAILABLE', `the store cannot make writes durable: ${this.wal.failed.message}`);
  }
}

/** SQLite's refusals of one row's values: a constraint, a value too big, a type mismatch. */
function isRowError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH)/.test(code);
}

const parse = (text: string): unknown => JSON.parse(text);

function record(row: Row): MessageRecord {
  return toRecord(row, parse);
}
