import type Database from 'better-sqlite3';

/** Active states: the message still needs work. Kept in one place because indexes depend on the exact list. */
export const ACTIVE_STATES_SQL = "('queued','failed','processing')";

/** Ordered migrations; PRAGMA user_version records how many have run. Never edit a released entry. */
const MIGRATIONS: readonly string[] = [
  `
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
];

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the store was written by a newer Pincer (schema version ${current}, this version knows ${MIGRATIONS.length}); upgrade Pincer or use another data folder`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
