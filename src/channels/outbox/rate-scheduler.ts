import type { RateBucket } from '../../plugins/sdk.js';

const MAX_WINDOWS = 10_000;
/** Longer than any bucket's interval (Telegram's longest is a minute). */
const IDLE_MS = 10 * 60_000;

interface Window {
  /** Send times within the bucket's interval, oldest first. */
  sent: number[];
  pausedUntil: number;
}

/**
 * Per-account rate buckets the delivery worker passes before each platform call: a sliding
 * window of `limit` sends per `intervalMs` (so "20 per minute per group" is never exceeded in
 * any minute), plus a pause a 429 sets on a bucket. It answers how long to wait; the caller
 * waits (or puts the delivery back) without sleeping inside a request.
 */
export class RateScheduler {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly now: () => number) {}

  /** How long until every bucket has room; 0 takes a slot in each now. */
  take(scope: string, buckets: readonly RateBucket[]): number {
    const now = this.now();
    if (this.windows.size > MAX_WINDOWS) this.forgetIdle(now);
    const wait = this.peek(scope, buckets);
    if (wait > 0) return wait;
    for (const bucket of buckets) this.window(scope, bucket.key).sent.push(now);
    return 0;
  }

  /** How long until every bucket has room, taking nothing. */
  peek(scope: string, buckets: readonly RateBucket[]): number {
    const now = this.now();
    let wait = 0;
    for (const bucket of buckets) wait = Math.max(wait, this.waitFor(this.window(scope, bucket.key), bucket, now));
    return wait;
  }

  /** A 429 for a send through these buckets: the narrowest bucket pauses (a chat, not the whole bot), or all when there is only one. */
  pause(scope: string, buckets: readonly RateBucket[], untilMs: number): void {
    const narrow = buckets.length > 1 ? buckets.filter((b) => b.key !== 'global') : buckets;
    for (const bucket of narrow) {
      const window = this.window(scope, bucket.key);
      window.pausedUntil = Math.max(window.pausedUntil, untilMs);
    }
  }

  private window(scope: string, key: string): Window {
    const name = `${scope}\u0000${key}`;
    let window = this.windows.get(name);
    if (!window) {
      window = { sent: [], pausedUntil: 0 };
      this.windows.set(name, window);
    }
    return window;
  }

  /** Buckets of chats long quiet hold nothing worth keeping. */
  private forgetIdle(now: number): void {
    for (const [name, window] of this.windows) {
      const last = window.sent.at(-1) ?? 0;
      if (window.pausedUntil <= now && now - last > IDLE_MS) this.windows.delete(name);
    }
  }

  private waitFor(window: Window, bucket: RateBucket, now: number): number {
    while (window.sent.length > 0 && now - (window.sent[0] as number) >= bucket.intervalMs) window.sent.shift();
    const paused = Math.max(0, window.pausedUntil - now);
    if (window.sent.length < bucket.limit) return paused;
    const oldest = window.sent[window.sent.length - bucket.limit] as number;
    return Math.max(paused, oldest + bucket.intervalMs - now);
  }
}
