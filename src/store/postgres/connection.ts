import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { PincerError } from '../../errors.js';
import { redactUrl } from '../store-url.js';
import { NotifyListener } from './listener.js';
import { migrate } from './schema.js';
import { parsePostgresStore, type PostgresStoreSettings } from './settings.js';
import { CONNECT_TIMEOUT_MS, describeError, TYPES } from './tx.js';

/** What a PostgreSQL queue runs on; shared with the message events when opened as a store. */
export interface PostgresConnection {
  readonly settings: PostgresStoreSettings;
  readonly pool: pg.Pool;
  readonly listener: NotifyListener;
  readonly nodeId: string;
}

/** The node's connection pool to the cluster's database. */
export function createPool(settings: PostgresStoreSettings, log?: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.connectionString,
    // A 202 promises a flushed commit, whatever the server's or role's default says; claims
    // turn it off for themselves only (see the claim statement).
    options: '-c synchronous_commit=on',
    max: settings.poolSize,
    types: TYPES,
    application_name: 'pincer',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // An idle pooled connection that drops emits here; the pool replaces it on next use.
  pool.on('error', (err) => log?.warn({ err, event: 'store.connection' }, 'an idle PostgreSQL connection failed; it will be replaced'));
  // A connection can also die while checked out, between two statements of a transaction:
  // node-postgres then emits 'error' on the client, which would be an uncaught exception
  // that takes the process down. The statement that follows fails and is handled as usual.
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.warn({ err, event: 'store.connection' }, 'a PostgreSQL connection in use failed; its transaction fails and is retried or reported'));
  });
  return pool;
}

/** The NOTIFY channel on which nodes say "there may be work". */
export function workChannel(schema: string): string {
  return `pincer:${schema}`;
}

/** The NOTIFY channel on which nodes say "there may be deliveries" (within PostgreSQL's 63 bytes for a 50-byte schema). */
export function deliveryChannel(schema: string): string {
  return `pincer_out:${schema}`;
}

/** Connect a pool and a (not yet started) LISTEN connection, and migrate the schema (once across the cluster). */
export async function connectPostgres(store: string | PostgresStoreSettings, now: () => number, log?: Logger): Promise<PostgresConnection> {
  const settings = typeof store === 'string' ? parsePostgresStore(store) : store;
  const nodeId = randomUUID();
  const pool = createPool(settings, log);
  const listener = new NotifyListener(settings.connectionString, `pincer-listen:${nodeId}`, settings.pollMs, log);
  try {
    const client = await pool.connect();
    try {
      const applied = await migrate(client, settings.schema, now);
      if (applied.length > 0) log?.info({ event: 'store.migrate', schema: settings.schema, versions: applied }, `store schema "${settings.schema}" migrated to version ${applied.at(-1)}`);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw storeUnavailable(settings, err);
  }
  return { settings, pool, listener, nodeId };
}

export function storeUnavailable(settings: PostgresStoreSettings, err: unknown): PincerError {
  if (err instanceof PincerError) return err;
  return new PincerError('STORE_UNAVAILABLE', `PostgreSQL store ${redactUrl(settings.connectionString)} (schema "${settings.schema}"): ${describeError(err)}`);
}
