import type { Logger } from 'pino';
import { errorCode, errorMessage, PincerError } from '../errors.js';
import type { AgentProgress, MessageEventBus } from '../events/types.js';
import type { ChannelTurn } from '../channels/turns.js';
import type { ClaimedMessage, Completion, JsonObject, WorkQueue } from '../store/types.js';

/** Runs one message; `onToken` streams its reply, `onProgress` a tool loop's steps, to whoever watches the message. */
export type MessageHandler = (message: ClaimedMessage, signal: AbortSignal, onToken: (delta: string) => void, onProgress: (event: AgentProgress) => void) => Promise<Completion>;

export interface WorkerPoolOptions {
  concurrency: number;
  shutdownTimeoutMs: number;
  leaseMs: number;
  /** Longest sleep between looks at the queue when nothing wakes the pool (retries, leases). */
  idlePollMs?: number;
  /** Chat-platform turns (typing, previews, the outbox rows of the reply); see channels/turns.ts. */
  turns?: { begin(message: ClaimedMessage): ChannelTurn | undefined };
}

interface InFlight {
  message: ClaimedMessage;
  controller: AbortController;
  done: Promise<void>;
  /** Handed back to the queue at shutdown: whatever the handler does next is discarded. */
  released: boolean;
}

export interface WorkerPoolStats {
  concurrency: number;
  inFlight: number;
  processed: number;
  failed: number;
  running: boolean;
}

/**
 * Async consumers over the queue. One dispatcher claims as many messages as there are free
 * slots (a batch per claim), each runs on its own promise, and every outcome is acked in the
 * queue before anyone is told. Leases are extended while work runs, so only a crashed or
 * hung worker loses its messages to re-delivery.
 *
 * The pool is the one publisher of message events (status, tokens, reply): clients, the
 * other nodes and metrics all hear a message's life from here.
 */
export class WorkerPool {
  private readonly inFlight = new Map<string, InFlight>();
  private concurrencyLimit: number;
  private running = false;
  private pumping = false;
  private pumpAgain = false;
  /** Settles when the running pump has finished claiming. */
  private claiming: Promise<void> = Promise.resolve();
  private wakeScheduled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private unsubscribe: Array<() => void> = [];
  private processed = 0;
  private failures = 0;

  constructor(
    private readonly queue: WorkQueue,
    private readonly handler: MessageHandler,
    private readonly events: MessageEventBus,
    private readonly log: Logger,
    private readonly options: WorkerPoolOptions,
  ) {
    this.concurrencyLimit = options.concurrency;
  }

  get concurrency(): number {
    return this.concurrencyLimit;
  }

  /** Change the number of concurrent workers at run time (autoscaling). */
  setConcurrency(n: number): void {
    this.concurrencyLimit = Math.max(1, Math.floor(n));
    this.wake();
  }

  stats(): WorkerPoolStats {
    return { concurrency: this.concurrencyLimit, inFlight: this.inFlight.size, processed: this.processed, failed: this.failures, running: this.running };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = [
      this.queue.onWork(() => this.wake()),
      // A message whose lease ran out on its last attempt dies inside claim(): tell its watchers.
      this.queue.onDeadLetter(({ id, attempts, error }) => this.events.publish({ type: 'status', id, status: 'dead', attempts, error })),
    ];
    const every = Math.max(50, Math.floor(this.options.leaseMs / 3));
    this.leaseTimer = setInterval(() => void this.extendLeases(), every);
    this.leaseTimer.unref();
    this.wake();
  }

  /**
   * Graceful stop: claim nothing more, let in-flight messages finish until the deadline,
   * then abort the rest and hand them back to the queue for re-delivery.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    // A claim under way finishes first: what it took either runs (and is waited for) or goes back.
    await this.claiming;
    const pending = [...this.inFlight.values()].map((f) => f.done);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.options.shutdownTimeoutMs);
    });
    // Leases keep being renewed while in-flight work drains, so none is handed out twice.
    const outcome = await Promise.race([Promise.all(pending).then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    clearInterval(this.leaseTimer);
    if (outcome === 'deadline' && this.inFlight.size > 0) {
      const left = [...this.inFlight.values()];
      this.log.warn({ event: 'workers.release', count: left.length }, `shutdown deadline reached: releasing ${left.length} unfinished message(s) for re-delivery`);
      for (const flight of left) {
        flight.released = true;
        flight.controller.abort(new PincerError('WORKER_SHUTDOWN', 'the worker is shutting down; the message goes back to the queue'));
        await this.queue.release(flight.message).catch((err: unknown) => this.log.error({ err, id: flight.message.id }, 'could not release message; its lease will expire instead'));
      }
    }
  }

  private wake(): void {
    if (!this.running || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    let claimed: () => void = () => {};
    this.claiming = new Promise<void>((resolve) => (claimed = resolve));
    try {
      do {
        this.pumpAgain = false;
        while (this.running && this.inFlight.size < this.concurrencyLimit) {
          const batch = await this.queue.claim(this.concurrencyLimit - this.inFlight.size);
          if (batch.length === 0) break;
          // stop() began during the claim: it no longer waits for these, so hand them back.
          if (!this.running) {
            await Promise.all(batch.map((m) => this.queue.release(m).catch((err: unknown) => this.log.error({ err, id: m.id }, 'could not release message; its lease will expire instead'))));
            break;
          }
          for (const message of batch) this.run(message);
        }
      } while (this.pumpAgain && this.running);
    } catch (err) {
      this.log.error({ err }, 'claiming from the queue failed; trying again shortly');
    } finally {
      this.pumping = false;
      claimed();
    }
    await this.scheduleIdleLook();
  }

  /**
   * Sleep until the next retry or lease expiry is due, or the idle poll, whichever is first.
   * Finding the next due time scans the queue's heads, so it is done only when no look is
   * pending, or when this pool has just scheduled a retry (`force`); retries scheduled by other
   * nodes are seen within the idle poll.
   */
  private async scheduleIdleLook(force = false): Promise<void> {
    // While every slot is busy, a finishing message wakes the pool; no timer is needed.
    if (!this.running || this.inFlight.size >= this.concurrencyLimit) return;
    if (this.idleTimer !== undefined && !force) return;
    // Reserve the slot with a plain poll first, so calls arriving during the query below do not
    // query again; it is replaced by the exact due time once known.
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.fireIdleLook(), this.options.idlePollMs ?? 1000);
    this.idleTimer.unref();
    const poll = this.options.idlePollMs ?? 1000;
    let delay = poll;
    try {
      const due = await this.queue.nextDueAt();
      if (due !== null) delay = Math.min(poll, Math.max(5, due - Date.now()));
    } catch {
      // The next wake-up or poll tries again.
    }
    if (!this.running) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.fireIdleLook(), delay);
    this.idleTimer.unref();
  }

  private fireIdleLook(): void {
    this.idleTimer = undefined;
    this.wake();
  }

  private run(message: ClaimedMessage): void {
    const controller = new AbortController();
    const flight: InFlight = { message, controller, released: false, done: Promise.resolve() };
    this.inFlight.set(message.id, flight);
    this.events.publish({ type: 'status', id: message.id, status: 'processing', attempts: message.attempts, createdAt: message.createdAt });
    flight.done = this.handle(flight);
  }

  /**
   * Run the handler, then record the outcome. The slot is freed as soon as the outcome is
   * submitted: waiting for the ack to be durable is the clients' business (they are told only
   * after it is), not a reason to leave a worker idle. Order within a conversation holds
   * because the store promotes the next message in the ack's own transaction.
   */
  private async handle(flight: InFlight): Promise<void> {
    const { message } = flight;
    let recorded: Promise<void>;
    const turn = this.options.turns?.begin(message);
    try {
      const onToken = (delta: string) => {
        if (flight.released) return;
        this.events.publish({ type: 'token', id: message.id, delta, attempt: message.attempts });
        turn?.token(delta);
      };
      const onProgress = (event: AgentProgress) => {
        if (flight.released) return;
        const attempt = message.attempts;
        if (event.kind === 'step') this.events.publish({ type: 'step', id: message.id, index: event.index, attempt });
        else this.events.publish({ type: 'tool', id: message.id, tool: event.tool, ok: event.ok, ms: event.ms, ...(event.error !== undefined ? { error: event.error } : {}), attempt });
      };
      const completion = await this.handler(message, flight.controller.signal, onToken, onProgress);
      if (turn && !flight.released) completion.deliveries = await turn.finish(completion.reply);
      recorded = flight.released ? Promise.resolve() : this.recordCompletion(message, completion);
      if (flight.released) turn?.abandon();
    } catch (err) {
      turn?.abandon();
      recorded = flight.released ? Promise.resolve() : this.recordFailure(message, err);
    } finally {
      this.inFlight.delete(message.id);
      this.wake();
    }
    await recorded;
  }

  private async recordCompletion(message: ClaimedMessage, completion: Completion): Promise<void> {
    try {
      const acked = await this.queue.complete(message, completion);
      if (!acked) {
        this.log.warn({ id: message.id }, 'finished a message whose lease had moved to another worker; the result was discarded');
        return;
      }
      this.processed++;
      this.events.publish({ type: 'reply', id: message.id, reply: completion.reply });
      this.events.publish({ type: 'status', id: message.id, status: 'done', attempts: message.attempts, createdAt: message.createdAt });
    } catch (err) {
      // A reply that can never be stored fails its message for good; any other failure to
      // store it leaves the lease to expire, and the message is redone.
      if (errorCode(err) === 'REPLY_UNSTORABLE') return this.recordFailure(message, err, false);
      this.log.error({ err, id: message.id }, 'could not store a reply');
    }
  }

  private async recordFailure(message: ClaimedMessage, err: unknown, retryable?: boolean): Promise<void> {
    this.failures++;
    const error = errorMessage(err);
    const analysis = (err as { analysis?: JsonObject }).analysis;
    try {
      const outcome = await this.queue.fail(message, { error, analysis, ...(retryable === undefined ? {} : { retryable }) });
      if (outcome === 'stale') return;
      if (outcome === 'retry') void this.scheduleIdleLook(true);
      const status = outcome === 'dead' ? 'dead' : 'failed';
      this.log.warn({ id: message.id, attempt: message.attempts, outcome, err: error }, outcome === 'dead' ? 'message dead-lettered' : 'message failed; will retry');
      this.events.publish({ type: 'status', id: message.id, status, attempts: message.attempts, error, createdAt: message.createdAt });
    } catch (ackErr) {
      this.log.error({ err: ackErr, id: message.id }, 'could not record a failure; the lease will expire and the message will be retried');
    }
  }

  private async extendLeases(): Promise<void> {
    if (this.inFlight.size === 0) return;
    const flights = [...this.inFlight.values()].filter((f) => !f.released);
    try {
      const lost = await this.queue.extendLeases(flights.map((f) => f.message));
      for (const id of lost) {
        const flight = this.inFlight.get(id);
        if (!flight) continue;
        this.log.warn({ id }, 'lost the lease on a message (it was re-delivered); aborting this copy');
        flight.released = true;
        flight.controller.abort(new PincerError('LEASE_LOST', 'the lease on this message moved to another worker; this copy was stopped'));
      }
    } catch (err) {
      this.log.error({ err }, 'could not extend leases');
    }
  }
}
