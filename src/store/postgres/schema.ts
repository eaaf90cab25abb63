import { createHash } from 'node:crypto';
import type pg from 'pg';
import { pendingMigrations } from '../migrations.js';

export { ACTIVE_STATES_SQL, DEPTH_SLOTS, SCHEMA_VERSION } from '../migrations.js';

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A 64-bit advisory lock key (signed, as PostgreSQL wants it) for a name. */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

/**
 * Bring the schema up to date. Safe when several nodes start at once: the whole run is one
 * transaction holding an advisory lock keyed by the schema name, so one node migrates and the
 * others wait, then find nothing left to do. DDL is transactional in PostgreSQL, so a failed
 * migration leaves no half-built schema behind.
 *
 * Returns the versions this call applied.
 */
export async function migrate(client: pg.ClientBase, schema: string, now: () => number): Promise<number[]> {
  const s = quoteIdent(schema);
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryKey(`pincer:migrate:${schema}`)]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.pincer_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
    );
    const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.pincer_schema_migrations`);
    for (const migration of pendingMigrations(rows[0]?.v ?? 0, 'schema')) {
      await client.query(migration.postgres.replace(/%s/g, s));
      await client.query(`INSERT INTO ${s}.pincer_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [migration.version, migration.name, now()]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return applied;
}

/** The schema version recorded in the store, 0 when it has never been migrated. */
export async function schemaVersion(client: pg.ClientBase, schema: string): Promise<number> {
  const s = quoteIdent(schema);
  const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${s}.pincer_schema_migrations`]);
  if (!rows[0]?.t) return 0;
  const version = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.pincer_schema_migrations`);
  return version.rows[0]?.v ?? 0;
}
