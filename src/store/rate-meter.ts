/** Events per second over a sliding window of one-second buckets. */
export class RateMeter {
  private readonly buckets: number[];
  private bucketStart = 0;
  private index = 0;

  constructor(
    private readonly windowSeconds = 10,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
  }

  mark(count = 1): void {
    this.advance();
    this.buckets[this.index] = (this.buckets[this.index] as number) + count;
  }

  perSecond(): number {
    this.advance();
    return this.buckets.reduce((a, b) => a + b, 0) / this.windowSeconds;
  }

  private advance(): void {
    const second = Math.floor(this.now() / 1000);
    if (this.bucketStart === 0) this.bucketStart = second;
    const steps = Math.min(second - this.bucketStart, this.windowSeconds);
    for (let i = 0; i < steps; i++) {
      this.index = (this.index + 1) % this.windowSeconds;
      this.buckets[this.index] = 0;
    }
    if (steps > 0) this.bucketStart = second;
  }
}

/** Seconds a rejected client should wait: time for a tenth of the limit to drain, 1..60 s. */
export function retryAfterSeconds(limit: number, drainPerSecond: number): number {
  if (drainPerSecond <= 0) return 30;
  return Math.min(60, Math.max(1, Math.ceil((limit * 0.1) / drainPerSecond)));
}
