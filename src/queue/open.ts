import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { PincerError } from '../errors.js';
import { PostgresQueue } from './postgres-queue.js';
import { SqliteQueue } from './sqlite-queue.js';
import { redactUrl } from './store-url.js';
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

/**
 * Open the queue backend named by `store` (PINCER_STORE): `sqlite:<path>` (embedded, one
 * process) or `postgres://` / `postgresql://` (cluster mode; connects and migrates the schema).
 */
export async function openQueue(config: PincerConfig, log?: Logger): Promise<Queue> {
  const store = config.store as string;
  if (store.startsWith('sqlite:')) return new SqliteQueue(store.slice('sqlite:'.length), queueOptionsFrom(config), log);
  if (isPostgresStore(store)) {
    log?.info({ event: 'store.open', store: redactUrl(store) }, `opening PostgreSQL store ${redactUrl(store)}`);
    return PostgresQueue.open(store, queueOptionsFrom(config), log);
  }
  throw new PincerError('STORE_UNSUPPORTED', `store "${redactUrl(store)}": expected sqlite:<path> or postgres://user@host/db`, 500);
}

export function isPostgresStore(store: string): boolean {
  return /^postgres(ql)?:\/\//.test(store);
}

export { redactUrl };
