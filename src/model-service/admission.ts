import { PincerError } from '../errors.js';
import { SlotPool } from '../util/slot-pool.js';

/**
 * Bounded admission for one model: `limit` calls run at once, up to `maxWaiting` more wait in
 * arrival order, and beyond that a caller is turned away at once (HTTP 429), so a burst cannot
 * pile unbounded work and memory onto a model that answers a few requests at a time.
 */
export class Admission {
  private readonly slots: SlotPool<number>;

  constructor(name: string, limit: number, maxWaiting: number) {
    this.slots = new SlotPool(
      Array.from({ length: limit }, (_, i) => i),
      {
        maxWaiting,
        full: ({ running, waiting }) => new PincerError('MODEL_BUSY', `${name} is busy: ${running} calls running and ${waiting} waiting; retry shortly`),
      },
    );
  }

  get stats(): { running: number; waiting: number } {
    const { running, waiting } = this.slots.stats;
    return { running, waiting };
  }

  /** Resolves with a release function once the call may run; rejects if the signal aborts first. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    const slot = await this.slots.acquire(signal);
    return slot.release;
  }
}
