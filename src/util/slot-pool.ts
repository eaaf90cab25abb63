/**
 * A bounded set of slots (llama.cpp sequences, admission tickets) handed out one per caller.
 * Callers beyond the free slots wait in arrival order; a released slot goes straight to the
 * first waiter, so no newcomer slips in between. A waiter whose signal aborts leaves the line;
 * past `maxWaiting` waiters a caller is refused at once. Closing fails every waiter and every
 * later acquire.
 */

export interface SlotPoolOptions {
  /** Waiters allowed at once; beyond that `acquire` rejects with `full()`. Default: no bound. */
  maxWaiting?: number;
  full?: (stats: SlotPoolStats) => Error;
  /** What an aborted wait rejects with; default the signal's reason. */
  aborted?: (signal: AbortSignal) => unknown;
}

export interface SlotPoolStats {
  /** Slots handed out and not yet released. */
  running: number;
  waiting: number;
  free: number;
}

export interface Slot<T> {
  readonly value: T;
  /** Give the slot back; later calls do nothing. */
  release(): void;
}

interface Waiter<T> {
  resolve: (slot: Slot<T>) => void;
  reject: (err: unknown) => void;
  detach: () => void;
}

export class SlotPool<T> {
  /** Free slots, the most recently released last: it is handed out first (warm caches). */
  private readonly free: T[] = [];
  private readonly waiting: Array<Waiter<T>> = [];
  private running = 0;
  private closed: Error | undefined;

  constructor(
    slots: Iterable<T> = [],
    private readonly options: SlotPoolOptions = {},
  ) {
    for (const slot of slots) this.free.push(slot);
  }

  get stats(): SlotPoolStats {
    return { running: this.running, waiting: this.waiting.length, free: this.free.length };
  }

  /** Adds a slot (made after the pool, e.g. once a model has loaded): the first waiter gets it. */
  add(value: T): void {
    if (this.closed) return;
    this.running++;
    this.hand(value);
  }

  acquire(signal?: AbortSignal): Promise<Slot<T>> {
    if (this.closed) return Promise.reject(this.closed);
    if (signal?.aborted) return Promise.reject(this.abortError(signal));
    if (this.free.length > 0) {
      this.running++;
      return Promise.resolve(this.slot(this.free.pop() as T));
    }
    if (this.waiting.length >= (this.options.maxWaiting ?? Infinity)) {
      return Promise.reject(this.options.full?.(this.stats) ?? new Error('no slot is free and the waiting line is full'));
    }
    return new Promise<Slot<T>>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(this.abortError(signal as AbortSignal));
      };
      const waiter: Waiter<T> = { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Fails the waiters with `error`, drops the free slots; later acquires fail with it too. */
  close(error: Error): void {
    if (this.closed) return;
    this.closed = error;
    this.free.length = 0;
    for (const waiter of this.waiting.splice(0)) {
      waiter.detach();
      waiter.reject(error);
    }
  }

  private slot(value: T): Slot<T> {
    let released = false;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        this.hand(value);
      },
    };
  }

  /** A slot comes back: to the first waiter (it stays running), else to the free list. */
  private hand(value: T): void {
    if (this.closed) {
      this.running--;
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      next.detach();
      next.resolve(this.slot(value));
      return;
    }
    this.running--;
    this.free.push(value);
  }

  private abortError(signal: AbortSignal): unknown {
    return this.options.aborted ? this.options.aborted(signal) : signal.reason;
  }
}
