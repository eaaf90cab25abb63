import { retryDelay } from '../ranking.js';
import type { Failure } from '../types.js';
import type { ResolvedQueueOptions } from './book.js';

export type FailureDecision = { kind: 'dead' } | { kind: 'retry'; dueAt: number };

/** A failure that cannot succeed, or the last allowed attempt, dies; anything else retries after the backoff. */
export function decideFailure(attempts: number, failure: Pick<Failure, 'retryable'>, options: ResolvedQueueOptions, now: number): FailureDecision {
  if (failure.retryable === false || attempts >= options.maxAttempts) return { kind: 'dead' };
  return { kind: 'retry', dueAt: now + retryDelay(attempts, options) };
}

/** The last error of a message whose lease ran out on its last allowed attempt. */
export function leaseExpiredError(attempts: number, maxAttempts: number): string {
  return `lease expired on attempt ${attempts} of ${maxAttempts}: the worker crashed or hung`;
}
