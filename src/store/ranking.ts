import type { Priority, QueueOptions } from './types.js';

/**
 * Claim order is by `rank`: the arrival time pushed back by the priority's aging delay.
 * A high message ranks by its arrival; a normal one as if it had arrived `aging.normal`
 * later; a low one `aging.low` later. So high goes first, yet a low message that has
 * waited `aging.low` outranks any high message arriving after that: low is never starved.
 */
export function rankOf(priority: Priority, arrivedAt: number, aging: QueueOptions['agingMs']): number {
  if (priority === 'high') return arrivedAt;
  return arrivedAt + (priority === 'normal' ? aging.normal : aging.low);
}

/** Delay before attempt `attempts + 1`, exponential from retry_delay, capped, with ±10 % jitter. */
export function retryDelay(attempts: number, options: Pick<QueueOptions, 'retryDelayMs' | 'retryBackoff' | 'maxRetryDelayMs'>, random = Math.random): number {
  const base = options.retryDelayMs * Math.pow(options.retryBackoff, Math.max(0, attempts - 1));
  const capped = Math.min(base, options.maxRetryDelayMs);
  return Math.round(capped * (0.9 + random() * 0.2));
}

export const PRIORITY_CODE: Record<Priority, number> = { high: 0, normal: 1, low: 2 };
export const PRIORITY_NAME: readonly Priority[] = ['high', 'normal', 'low'];
