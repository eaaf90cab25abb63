import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { describeError } from '../../src/store/postgres/tx.js';

/** The real PostgreSQL the tests use, and a fresh schema per test. */
export const PG_URL = process.env.PINCER_TEST_POSTGRES_URL ?? process.env.PINCER_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

let admin: pg.Pool | undefined;
let counter = 0;

export async function adminPool(): Promise<pg.Pool> {
  if (admin) return admin;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(
      `PostgreSQL is unreachable at ${PG_URL} (${describeError(err)}). These tests need a real PostgreSQL: start it, or point PINCER_TEST_POSTGRES_URL at one.`,
    );
  }
  admin = pool;
  return pool;
}

/** A unique schema name for one test; checks PostgreSQL answers first. */
export async function freshSchema(): Promise<string> {
  await adminPool();
  return `pincer_t${process.pid}_${++counter}_${randomBytes(3).toString('hex')}`;
}

export function storeUrl(schema: string, extra = ''): string {
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString() + extra;
}

export async function dropSchema(schema: string): Promise<void> {
  await (await adminPool()).query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

afterAll(async () => {
  await admin?.end();
});

