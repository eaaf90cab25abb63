import pg from 'pg';
import type { Logger } from 'pino';
import type { PostgresStoreSettings } from './settings.js';
import { CONNECT_TIMEOUT_MS, TYPES } from './tx.js';

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
