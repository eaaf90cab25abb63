import { PincerError } from '../../errors.js';

/** What `store` = `postgres://...` says, once Pincer's own query parameters are taken out. */
export interface PostgresStoreSettings {
  /** The URL handed to node-postgres (without schema/pool/poll). */
  connectionString: string;
  /** Schema holding every object of this store (`?schema=`, default `pincer`). */
  schema: string;
  /** Size of the connection pool (`?pool=`, default 10); the LISTEN connection is extra. */
  poolSize: number;
  /** While the LISTEN connection is down, wake workers this often (`?poll=` ms, default 1000). */
  pollMs: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/;

export function parsePostgresStore(store: string): PostgresStoreSettings {
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    throw new PincerError('STORE_INVALID', 'store: not a valid postgres:// URL');
  }
  const take = (name: string): string | null => {
    const value = url.searchParams.get(name);
    url.searchParams.delete(name);
    return value;
  };
  const schema = take('schema') ?? 'pincer';
  if (!SCHEMA_NAME.test(schema)) {
    throw new PincerError('STORE_INVALID', `store: schema "${schema}" must be 1-50 lower-case letters, digits or _ (not starting with a digit)`);
  }
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = take(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new PincerError('STORE_INVALID', `store: ${name}=${raw} must be an integer from ${min} to ${max}`);
    return n;
  };
  const poolSize = int('pool', 10, 1, 1000);
  const pollMs = int('poll', 1000, 10, 3_600_000);
  return { connectionString: url.toString(), schema, poolSize, pollMs };
}
