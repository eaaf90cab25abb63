import { PincerError } from '../errors.js';

/**
 * Bounded admission for one model: `limit` calls run at once, up to `maxWaiting` more wait in
 * arrival order, and beyond that a caller is turned away at once (HTTP 429), so a burst cannot
 * pile unbounded work and memory onto a model that answers a few requests at a time.
 */
export class Admission {
  private running = 0;
  private readonly waiting: Array<{ resolve: () => void; reject: (err: unknown) => void; signal: AbortSignal | undefined; onAbort: () => void }> = [];

  constructor(
    private readonly name: string,
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Resolves with a release function once the call may run; rejects if the signal aborts first. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.running < this.limit) return this.grant();
    if (this.waiting.length >= this.maxWaiting) {
      throw new PincerError('MODEL_BUSY', `${this.name} is busy: ${this.running} calls running and ${this.waiting.length} waiting; retry shortly`, 429);
    }
    // A waiter resolves holding the slot its releaser handed over: `running` is unchanged.
    await new Promise<void>((resolve, reject) => {
      const entry = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.waiting.splice(this.waiting.indexOf(entry), 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
    return this.releaser();
  }

  private grant(): () => void {
    this.running++;
    return this.releaser();
  }

  /** Frees the slot, or hands it straight to the next waiter (so no newcomer slips in between). */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) {
        next.signal?.removeEventListener('abort', next.onAbort);
        next.resolve();
      } else {
        this.running--;
      }
    };
  }
}
