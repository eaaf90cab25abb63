/**
 * Values observed over the last seconds, kept per second so old ones fall off as a whole,
 * with a bounded number per second (a uniform sample beyond it), so percentiles of a busy
 * second cost the same as those of a quiet one.
 */
export class RollingWindow {
  private readonly buckets: Array<{ second: number; values: number[]; seen: number }> = [];

  constructor(
    private readonly seconds: number,
    private readonly perSecond = 1000,
    private readonly random: () => number = Math.random,
  ) {}

  add(value: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    let bucket = this.buckets.at(-1);
    if (!bucket || bucket.second !== second) {
      bucket = { second, values: [], seen: 0 };
      this.buckets.push(bucket);
      this.prune(nowMs);
    }
    bucket.seen++;
    if (bucket.values.length < this.perSecond) bucket.values.push(value);
    else {
      // Reservoir sampling: every value of the second has the same chance to be kept.
      const slot = Math.floor(this.random() * bucket.seen);
      if (slot < this.perSecond) bucket.values[slot] = value;
    }
  }

  /** The q-quantile (0..1) of the window's values, or null when it holds none. */
  quantile(q: number, nowMs: number): number | null {
    this.prune(nowMs);
    const all = this.buckets.flatMap((b) => b.values).sort((a, b) => a - b);
    if (all.length === 0) return null;
    return all[Math.min(all.length - 1, Math.max(0, Math.ceil(q * all.length) - 1))] ?? null;
  }

  private prune(nowMs: number): void {
    const oldest = Math.floor(nowMs / 1000) - this.seconds + 1;
    while (this.buckets.length > 0 && (this.buckets[0]?.second ?? 0) < oldest) this.buckets.shift();
  }
}
