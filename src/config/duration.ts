const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/**
 * Durations in config are either a number of seconds (the seed writes `retry_delay: 5`)
 * or a string with a unit: "250ms", "5s", "10m", "1h", "7d". Returns milliseconds, or
 * undefined when the input is not a duration.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const match = PATTERN.exec(trimmed);
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}
