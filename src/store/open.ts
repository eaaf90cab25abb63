import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { PincerError } from '../errors.js';
import { LocalMessageEvents } from '../events/local.js';
import { PostgresMessageEvents } from '../events/postgres.js';
import type { MessageEventBus } from '../events/types.js';
import { storeUnavailable } from './postgres/connection.js';
import { connectPostgres, PostgresQueue } from './postgres/queue.js';
import { SqliteQueue } from './sqlite/queue.js';
import { redactUrl } from './store-url.js';
import type { Queue, QueueOptions, Store } from './types.js';

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
    metadata: { maxDepth: q.max_metadata_depth, maxBytes: q.max_metadata_bytes },
  };
}

/**
 * Open the store named by `store` (PINCER_STORE): `sqlite:<path>` (embedded, one process) or
 * `postgres://` / `postgresql://` (cluster mode: connects, migrates the schema, listens).
 */
export async function openStore(config: PincerConfig, log?: Logger): Promise<Store> {
  const store = config.store as string;
  const options = queueOptionsFrom(config);
  if (store.startsWith('sqlite:')) {
    const queue = new SqliteQueue(store.slice('sqlite:'.length), options, log);
    const events = new LocalMessageEvents((err) => log?.error({ err, event: 'events.listener' }, 'a message event listener failed'));
    return composeStore(queue, events, async () => {
      await events.close();
      await queue.close();
    });
  }
  if (isPostgresStore(store)) {
    log?.info({ event: 'store.open', store: redactUrl(store) }, `opening PostgreSQL store ${redactUrl(store)}`);
    const connection = await connectPostgres(store, options.now ?? Date.now, log);
    const queue = new PostgresQueue(connection, options, log);
    const events = new PostgresMessageEvents(connection.pool, connection.listener, eventsChannel(connection.settings.schema), connection.nodeId, log);
    const close = async () => {
      await events.close();
      await queue.close();
      await connection.listener.stop();
      await connection.pool.end();
    };
    try {
      await queue.init();
      await connection.listener.start();
      events.start();
    } catch (err) {
      await close().catch(() => undefined);
      throw storeUnavailable(connection.settings, err);
    }
    return composeStore(queue, events, close);
  }
  throw new PincerError('STORE_UNSUPPORTED', `store "${redactUrl(store)}": expected sqlite:<path> or postgres://user@host/db`);
}

/**
 * The NOTIFY channel of message events, beside the queue's work channel. PostgreSQL names are
 * at most 63 bytes and a schema at most 50, so the prefix stays short.
 */
export function eventsChannel(schema: string): string {
  return `pincer_ev:${schema}`;
}

function composeStore(queue: Queue, events: MessageEventBus, close: () => Promise<void>): Store {
  let closing: Promise<void> | undefined;
  return { backend: queue.backend, work: queue, messages: queue, admin: queue, channels: queue, agent: queue.agent, memory: queue.memory, knowledge: queue.knowledge, events, close: () => (closing ??= close()) };
}

export function isPostgresStore(store: string): boolean {
  return /^postgres(ql)?:\/\//.test(store);
}

export { redactUrl };
