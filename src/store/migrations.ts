import { PincerError } from '../errors.js';

/** Active states: the message still needs work. Indexes depend on the exact list. */
export const ACTIVE_STATES_SQL = "('queued','failed','processing')";

/** Rows of PostgreSQL's depth counter (migration 1 creates them; never change it). */
export const DEPTH_SLOTS = 16;

/**
 * One version of the store's schema, written once for each backend. Both backends share the
 * version numbers, so "schema version 3" means the same tables everywhere; a migration is
 * appended, never edited once released. In the PostgreSQL text `%s` is the quoted schema.
 *
 * The backends differ where their engines do: SQLite's `head` is 0/1 and its JSON is text;
 * PostgreSQL's `head` is boolean, its JSON jsonb, and it keeps a `conversations` row per
 * conversation whose row lock serialises every change of a conversation's head across nodes,
 * and the cluster-wide depth in slots. Times are milliseconds from the application's clock,
 * never the database's.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages and conversations',
    sqlite: `
  CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    idempotency_key TEXT,
    text            TEXT NOT NULL,
    sender          TEXT,
    channel         TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    metadata        TEXT,
    state           TEXT NOT NULL,
    -- 1 for the oldest unfinished message of its conversation: the only one that may be claimed.
    head            INTEGER NOT NULL DEFAULT 0,
    rank            INTEGER NOT NULL,
    -- queued/failed: when it becomes claimable; processing: when its lease expires.
    due_at          INTEGER NOT NULL,
    lease           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    analysis        TEXT,
    reply           TEXT,
    last_error      TEXT
  );
  -- Every index is paid for on the hot path, so there are few, and most are partial.
  CREATE UNIQUE INDEX messages_idempotency ON messages(idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX messages_claimable ON messages(rank) WHERE head = 1 AND state IN ${ACTIVE_STATES_SQL};
  CREATE INDEX messages_active_by_conversation ON messages(conversation_id, seq) WHERE state IN ${ACTIVE_STATES_SQL};
  CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
  CREATE INDEX messages_dead ON messages(finished_at) WHERE state = 'dead';
  `,
    postgres: `
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

/**
 * The migrations a store at `current` still needs, in order. A store written by a newer Pincer
 * is refused rather than guessed at.
 */
export function pendingMigrations(current: number, where: string): readonly Migration[] {
  if (current > SCHEMA_VERSION) {
    throw new PincerError(
      'STORE_SCHEMA_NEWER',
      `the store was written by a newer Pincer (schema version ${current}, this version knows ${SCHEMA_VERSION}); upgrade Pincer or use another ${where}`,
    );
  }
  return MIGRATIONS.filter((m) => m.version > current);
}
