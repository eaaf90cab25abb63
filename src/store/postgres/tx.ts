import pg from 'pg';

const TX_ATTEMPTS = 5;
/** Longest wait for a connection (a new one, or a free one from the pool). */
export const CONNECT_TIMEOUT_MS = 15_000;

/** int8 (bigint) columns hold millisecond times, sequence numbers and counts: all safe as numbers. */
export const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20 && format !== 'binary') return (value: string) => Number(value);
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Thrown inside a transaction to roll it back and run it again (a concurrent duplicate key). */
export class RetryTransaction extends Error {}

/** Run `fn` in a transaction, again from the start after a deadlock or serialisation failure. */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      if (attempt < TX_ATTEMPTS && isTransient(err)) continue;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

/** Run a single statement again after a deadlock or serialisation failure. */
export async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt < TX_ATTEMPTS && isTransient(err)) continue;
      throw err;
    }
  }
}

/** Thrown inside `savepoint` to undo what `fn` did on purpose (a probe). */
export class SavepointRollback extends Error {}

/**
 * Run `fn` inside a savepoint of the current transaction: its failure is undone alone and
 * returned, and the transaction goes on.
 */
export async function savepoint<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  await client.query('SAVEPOINT item');
  try {
    const value = await fn();
    await client.query('RELEASE SAVEPOINT item');
    return { ok: true, value };
  } catch (error) {
    if (!isDataError(error) && !(error instanceof SavepointRollback)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT item');
    return { ok: false, error };
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof RetryTransaction) return true;
  const code = (err as { code?: unknown }).code;
  // deadlock_detected, serialization_failure, unique_violation (a concurrent idempotency key)
  return code === '40P01' || code === '40001' || code === '23505';
}

/**
 * A statement refused for what one row holds, not for the state of the database: SQLSTATE
 * classes 22 (data exception), 23 (integrity constraint, but not a concurrent duplicate key,
 * which is retried) and 54 (program limit, e.g. a value too large to index).
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23|54)/.test(code) && code !== '23505';
}

/** pg's connection errors are often AggregateErrors with an empty message. */
export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return [...new Set(err.errors.map(describeError))].join('; ');
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : err.name);
  }
  return String(err);
}
