/**
 * The most common complaint about tool loops is a model calling the same thing for hours. The
 * same tool with the same arguments a third time in one run is blocked (the model is told so);
 * a second block ends the run.
 */
export const REPEATS_ALLOWED = 2;

/** Arguments as a canonical string: key order does not make a call new. */
export function canonicalArgs(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalArgs).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalArgs(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export class LoopGuard {
  private readonly seen = new Map<string, number>();
  private blocks = 0;

  constructor(private readonly enabled: boolean) {}

  /** 'run', or 'block' when this call repeats too often. */
  check(tool: string, args: unknown): 'run' | 'block' {
    if (!this.enabled) return 'run';
    const key = `${tool}\u0000${canonicalArgs(args)}`;
    const count = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, count);
    if (count <= REPEATS_ALLOWED) return 'run';
    this.blocks++;
    return 'block';
  }

  /** A second block ends the run. */
  get exhausted(): boolean {
    return this.blocks >= 2;
  }
}
