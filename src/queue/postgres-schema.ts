import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Active states: the message still needs work. Indexes depend on the exact list. */
export const ACTIVE_STATES_SQL = "('queued','failed','processing')";

/** Rows of the depth counter (migration 1 creates them; never change it). */
export const DEPTH_SLOTS = 16;

/**
 * Ordered migrations of the PostgreSQL store. `pincer_schema_migrations` records which versions
 * have run; never edit a released entry, append a new one. `%s` is the quoted schema name.
 *
 * Differences from the SQLite schema: `head` is a boolean, JSON columns are jsonb, times are
 * bigint milliseconds written by the application's clock (never the database's `now()`), and
 * `conversations` keeps one row per conversation whose row lock serialises every change of a
 * conversation's head across nodes (see postgres-queue.ts).
 */
const MIGRATIONS: ReadonlyArray<{ name: string; sql: string }> = [
  {
    name: 'messages and conversations',
    sql: `
    CREATE TABLE %s.messages (
      seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id              text NOT NULL UNIQUE,
      conversation_id text NOT NULL,
      idempotency_key text,
      text            text NOT NULL,
      sender          text,
      channel         text NOT NULL,
      priority        smallint NOT NULL,
      metadata        jsonb,
      state           text NOT NULL,
      -- true for the oldest unfinished message of its conversation: the only one that may be claimed.
      head            boolean NOT NULL DEFAULT false,
      rank            bigint NOT NULL,
      -- queued/failed: when it becomes claimable; processing: when its lease expires.
      due_at          bigint NOT NULL,
      lease           integer NOT NULL DEFAULT 0,
      attempts        integer NOT NULL DEFAULT 0,
      created_at      bigint NOT NULL,
      updated_at      bigint NOT NULL,
      started_at      bigint,
      finished_at     bigint,
      analysis        jsonb,
      reply           jsonb,
      last_error      text
    );
    CREATE UNIQUE INDEX messages_idempotency ON %s.messages (idempotency_key) WHERE idempotency_key IS NOT NULL;
    -- Claims walk this index in rank order; due_at in the key lets them skip leased and
    -- waiting heads without visiting the table, and makes nextDueAt an index-only scan.
    CREATE INDEX messages_claimable ON %s.messages (rank, due_at) WHERE head AND state IN ${ACTIVE_STATES_SQL};
    CREATE INDEX messages_active_by_conversation ON %s.messages (conversation_id, seq) WHERE state IN ${ACTIVE_STATES_SQL};
    CREATE INDEX messages_by_conversation ON %s.messages (conversation_id, seq);
    CREATE INDEX messages_dead ON %s.messages (finished_at) WHERE state = 'dead';
    -- One row per conversation: how many of its messages are unfinished. Every transaction that
    -- may change which message is a conversation's head locks its row first (in id order).
    CREATE TABLE %s.conversations (
      id     text PRIMARY KEY,
      active integer NOT NULL CHECK (active >= 0)
    );
    -- The cluster-wide depth (unfinished messages), spread over 16 rows so concurrent
    -- transactions rarely wait for one another: each adds its change to a random slot as its
    -- last write, and readers sum the slots.
    CREATE TABLE %s.depth_slots (
      slot smallint PRIMARY KEY,
      n    bigint NOT NULL
    );
    INSERT INTO %s.depth_slots (slot, n) SELECT g, 0 FROM generate_series(0, ${DEPTH_SLOTS - 1}) AS g;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

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
    const current = rows[0]?.v ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the store was written by a newer Pincer (schema version ${current}, this version knows ${MIGRATIONS.length}); upgrade Pincer or use another schema`,
      );
    }
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      const migration = MIGRATIONS[version - 1]!;
      await client.query(migration.sql.replace(/%s/g, s));
      await client.query(`INSERT INTO ${s}.pincer_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [version, migration.name, now()]);
      applied.push(version);
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
