import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { PincerError } from '../errors.js';
import { SqliteQueue } from './sqlite-queue.js';
import type { Queue, QueueOptions } from './types.js';

export function queueOptionsFrom(config: PincerConfig): QueueOptions {
  const q = config.queue;
  return {
    maxLength: q.max_length,
    maxLengthCap: q.max_length_cap,
    retryDelayMs: q.retry_delay,
    retryBackoff: q.retry_backoff,
    maxRetryDelayMs: q.max_retry_delay,
    maxAttempts: q.max_attempts,
    leaseMs: q.lease,
    agingMs: { normal: q.aging.normal, low: q.aging.low },
    commitBatch: q.commit_batch,
  };
}

/** Open the queue backend named by `store` (PINCER_STORE). */
export function openQueue(config: PincerConfig, log?: Logger): Queue {
  const store = config.store as string;
  if (store.startsWith('sqlite:')) return new SqliteQueue(store.slice('sqlite:'.length), queueOptionsFrom(config), log);
  throw new PincerError(
    'STORE_UNSUPPORTED',
    `store "${redactUrl(store)}": this Pincer version ships only the embedded SQLite backend (sqlite:<path>); the PostgreSQL backend comes with cluster mode`,
    500,
  );
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
