import type { Logger } from 'pino';
import { PincerError, QueueFullError } from '../../errors.js';
import { Listeners } from '../../util/listeners.js';
import { QueueCapacity } from '../capacity.js';
import { RateMeter, retryAfterSeconds } from '../rate-meter.js';
import { PRIORITY_NAME } from '../ranking.js';
import { MESSAGE_STATES, type DeadLetterEvent, type MessageState, type Priority, type QueueOptions, type QueueStats } from '../types.js';

export type ResolvedQueueOptions = Required<QueueOptions>;

/** What one transaction of acks changed, for the counters. */
export interface AckTally {
  completed: number;
  /** Failed attempts, whether retried or dead. */
  failed: number;
  dead: number;
}

/**
 * The bookkeeping every backend shares: depth and the S5.2 limit, the drain rate behind
 * Retry-After, counters, work and dead-letter listeners (a throwing listener is logged, never
 * propagated into a transaction's caller), open/closed state and the stats record. A backend
 * owns one and tells it what its transactions did; where the truth of `depth` lives (memory
 * for SQLite, the summed slots for PostgreSQL) stays the backend's business.
 */
export class QueueBook {
  readonly options: ResolvedQueueOptions;
  readonly capacity: QueueCapacity;
  readonly drainRate: RateMeter;
  readonly work: Listeners<[]>;
  readonly deadLetters: Listeners<[DeadLetterEvent]>;
  readonly counters = { enqueued: 0, completed: 0, failed: 0, deadLettered: 0, rejected: 0 };
  private currentDepth = 0;
  private closedFlag = false;

  constructor(
    readonly backend: string,
    options: QueueOptions,
    private readonly log?: Logger,
  ) {
    this.options = { now: Date.now, ...options };
    this.drainRate = new RateMeter(10, this.options.now);
    this.capacity = new QueueCapacity(options.maxLength, options.maxLengthCap, (change) => {
      this.log?.warn(
        { event: 'queue.limit', ...change },
        change.kind === 'grow'
          ? `queue over 80% full (${change.depth} waiting): limit grown from ${change.from} to ${change.to}`
          : `queue drained (${change.depth} waiting): limit back to ${change.to}`,
      );
    });
    this.work = new Listeners((err) => this.log?.error({ err, event: 'queue.listener' }, 'a work listener failed'));
    this.deadLetters = new Listeners((err) => this.log?.error({ err, event: 'queue.listener' }, 'a dead-letter listener failed'));
  }

  get depth(): number {
    return this.currentDepth;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The depth as read from the store (start-up, stats). */
  setDepth(depth: number): void {
    this.currentDepth = depth;
    this.capacity.observe(depth);
  }

  /** A 429 for the next message at this depth, or undefined when it fits (and the limit may grow). */
  refusal(depth: number): QueueFullError | undefined {
    if (this.capacity.admits(depth)) return undefined;
    return new QueueFullError(depth, this.capacity.limit, retryAfterSeconds(this.capacity.limit, this.drainRate.perSecond()));
  }

  /** `wake` false: the backend wakes workers itself once the batch is durable. */
  enqueued(depthBefore: number, admitted: number, rejected: number, wake = true): void {
    this.counters.enqueued += admitted;
    this.counters.rejected += rejected;
    this.setDepth(depthBefore + admitted);
    if (admitted > 0 && wake) this.notifyWork();
  }

  acked(tally: AckTally): void {
    this.counters.completed += tally.completed;
    this.counters.failed += tally.failed;
    this.counters.deadLettered += tally.dead;
    const finished = tally.completed + tally.dead;
    if (finished === 0) return;
    this.drainRate.mark(finished);
    this.setDepth(this.currentDepth - finished);
    this.notifyWork();
  }

  /** Messages whose lease ran out on their last attempt, found by a claim. */
  expired(events: readonly DeadLetterEvent[]): void {
    if (events.length === 0) return;
    this.counters.deadLettered += events.length;
    this.setDepth(this.currentDepth - events.length);
    for (const event of events) this.deadLetters.emit(event);
    this.notifyWork();
  }

  revived(n: number): void {
    if (n === 0) return;
    this.setDepth(this.currentDepth + n);
    this.notifyWork();
  }

  notifyWork(): void {
    this.work.emit();
  }

  assertOpen(): void {
    if (this.closedFlag) throw new PincerError('QUEUE_CLOSED', 'the queue is closed (Pincer is shutting down)');
  }

  markClosed(): void {
    this.closedFlag = true;
    this.work.clear();
    this.deadLetters.clear();
  }

  stats(counts: StateCounts, depth: number, oldestWaitingCreatedAt: number | null): QueueStats {
    return {
      backend: this.backend,
      depth,
      byState: counts.byState,
      byPriority: counts.byPriority,
      limit: this.capacity.limit,
      baseLimit: this.capacity.base,
      cap: this.capacity.cap,
      growths: this.capacity.growths,
      ...this.counters,
      oldestQueuedAgeMs: oldestWaitingCreatedAt === null ? null : Math.max(0, this.options.now() - oldestWaitingCreatedAt),
    };
  }
}

export interface StateCounts {
  byState: Record<MessageState, number>;
  /** Waiting messages (queued or failed, not processing) by priority. */
  byPriority: Record<Priority, number>;
}

/** One row of a backend's count query: messages of one state and priority. */
export interface CountRow {
  state: MessageState;
  priority: number;
  n: number;
  /** The oldest creation time among them, where the backend reads it in the same query. */
  oldest?: number | null;
}

/** Counts by state and priority, the depth (unfinished messages) and the oldest waiting one. */
export function tallyCounts(rows: Iterable<CountRow>): { counts: StateCounts; depth: number; oldestWaiting: number | null } {
  const counts = emptyCounts();
  let depth = 0;
  let oldestWaiting: number | null = null;
  for (const { state, priority, n, oldest } of rows) {
    counts.byState[state] += n;
    if (state === 'dead' || state === 'done') continue;
    depth += n;
    if (state === 'processing') continue;
    counts.byPriority[PRIORITY_NAME[priority] ?? 'normal'] += n;
    if (oldest != null && (oldestWaiting === null || oldest < oldestWaiting)) oldestWaiting = oldest;
  }
  return { counts, depth, oldestWaiting };
}

export function emptyCounts(): StateCounts {
  const byState = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageState, number>;
  return { byState, byPriority: { high: 0, normal: 0, low: 0 } };
}
