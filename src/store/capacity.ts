/**
 * The queue's admission limit with the seed's growth rule (S5.2): when the backlog is over
 * 80 % of the current limit, the limit grows by 20 %, never beyond the cap. Once the backlog
 * falls under half of the configured base, the limit returns to the base so one burst does
 * not leave the queue unbounded for good.
 */
export interface CapacityChange {
  kind: 'grow' | 'reset';
  from: number;
  to: number;
  depth: number;
}

export class QueueCapacity {
  private current: number;
  private growthCount = 0;

  constructor(
    readonly base: number,
    readonly cap: number,
    private readonly onChange: (change: CapacityChange) => void = () => {},
  ) {
    this.current = base;
  }

  get limit(): number {
    return this.current;
  }

  get growths(): number {
    return this.growthCount;
  }

  /** Whether one more message may be admitted at this depth. */
  admits(depth: number): boolean {
    return depth < this.current;
  }

  /** Apply S5.2 after the depth changed. */
  observe(depth: number): void {
    while (depth > this.current * 0.8 && this.current < this.cap) {
      const from = this.current;
      this.current = Math.min(this.cap, Math.ceil(this.current * 1.2));
      this.growthCount++;
      this.onChange({ kind: 'grow', from, to: this.current, depth });
    }
    if (this.current > this.base && depth < this.base * 0.5) {
      const from = this.current;
      this.current = this.base;
      this.onChange({ kind: 'reset', from, to: this.base, depth });
    }
  }
}
