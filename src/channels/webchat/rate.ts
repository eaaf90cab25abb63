import { RateScheduler } from '../outbox/rate-scheduler.js';
import type { Rate } from './config.js';

/**
 * How many messages each visitor may send: a sliding window per visitor, through the outbox's
 * rate scheduler (the same "never more than N in any interval" rule). It is per node: behind
 * a load balancer that spreads one visitor's requests over n nodes, a visitor gets at most n
 * times the rate.
 */
export class VisitorRateLimiter {
  private readonly scheduler: RateScheduler;

  constructor(now: () => number) {
    this.scheduler = new RateScheduler(now);
  }

  /** 0 takes a slot now; otherwise the milliseconds until the visitor may send again. */
  take(account: string, visitor: string, rate: Rate): number {
    return this.scheduler.take(`webchat:${account}`, [{ key: visitor, limit: rate.limit, intervalMs: rate.intervalMs }]);
  }
}
