import { PincerError } from '../errors.js';

/** Active states: the message still needs work. Indexes depend on the exact list. */
export const ACTIVE_STATES_SQL = "('queued','failed','processing')";

/** Deliveries still to go out: they hold their lane (the lowest of them is the lane's head). */
export const OPEN_DELIVERY_STATES_SQL = "('queued','failed','sending')";

/** Deliveries that are over: retention deletes them. */
export const FINISHED_DELIVERY_STATES_SQL = "('sent','dead','ambiguous')";

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
  {
    version: 2,
    name: 'channel deliveries, job leases and pairing',
    sqlite: `
  CREATE TABLE deliveries (
    -- Order within a lane, and of the whole outbox.
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    message_id   TEXT,
    channel      TEXT NOT NULL,
    account      TEXT NOT NULL,
    lane         TEXT NOT NULL,
    target       TEXT NOT NULL,
    body         TEXT NOT NULL,
    plan         TEXT,
    next_part    INTEGER NOT NULL DEFAULT 0,
    receipts     TEXT NOT NULL DEFAULT '[]',
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    lease        INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER,
    last_error   TEXT,
    error_class  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    sent_at      INTEGER
  );
  -- A lane's head is its lowest open row; claims probe this index for each due row.
  CREATE INDEX deliveries_open_by_lane ON deliveries(lane, seq) WHERE state IN ${OPEN_DELIVERY_STATES_SQL};
  CREATE INDEX deliveries_due ON deliveries(available_at) WHERE state IN ('queued','failed');
  CREATE INDEX deliveries_sending ON deliveries(lease_until) WHERE state = 'sending';
  CREATE INDEX deliveries_by_state ON deliveries(state, seq);
  CREATE INDEX deliveries_finished ON deliveries(updated_at) WHERE state IN ${FINISHED_DELIVERY_STATES_SQL};
  -- holder NULL: released. The row stays so the fence never goes back.
  CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT,
    fence      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE channel_pairings (
    channel    TEXT NOT NULL,
    account    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    code       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, sender_id),
    UNIQUE (channel, code)
  );
  CREATE TABLE channel_approvals (
    channel     TEXT NOT NULL,
    account     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    approved_by TEXT NOT NULL,
    PRIMARY KEY (channel, account, sender_id)
  );
  `,
    postgres: `
    CREATE TABLE %s.deliveries (
      seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id           text NOT NULL UNIQUE,
      message_id   text,
      channel      text NOT NULL,
      account      text NOT NULL,
      lane         text NOT NULL,
      target       jsonb NOT NULL,
      body         jsonb NOT NULL,
      plan         jsonb,
      next_part    integer NOT NULL DEFAULT 0,
      receipts     jsonb NOT NULL DEFAULT '[]',
      state        text NOT NULL,
      attempts     integer NOT NULL DEFAULT 0,
      rate_limited integer NOT NULL DEFAULT 0,
      available_at bigint NOT NULL,
      lease        integer NOT NULL DEFAULT 0,
      lease_until  bigint,
      last_error   text,
      error_class  text,
      created_at   bigint NOT NULL,
      updated_at   bigint NOT NULL,
      sent_at      bigint
    );
    -- A lane's head is its lowest open row; claims probe this index for each due row.
    CREATE INDEX deliveries_open_by_lane ON %s.deliveries (lane, seq) WHERE state IN ${OPEN_DELIVERY_STATES_SQL};
    CREATE INDEX deliveries_due ON %s.deliveries (available_at) WHERE state IN ('queued','failed');
    CREATE INDEX deliveries_sending ON %s.deliveries (lease_until) WHERE state = 'sending';
    CREATE INDEX deliveries_by_state ON %s.deliveries (state, seq);
    CREATE INDEX deliveries_finished ON %s.deliveries (updated_at) WHERE state IN ${FINISHED_DELIVERY_STATES_SQL};
    -- holder NULL: released. The row stays so the fence never goes back.
    CREATE TABLE %s.job_leases (
      name       text PRIMARY KEY,
      holder     text,
      fence      bigint NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE TABLE %s.channel_pairings (
      channel    text NOT NULL,
      account    text NOT NULL,
      sender_id  text NOT NULL,
      code       text NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      PRIMARY KEY (channel, account, sender_id),
      UNIQUE (channel, code)
    );
    CREATE TABLE %s.channel_approvals (
      channel     text NOT NULL,
      account     text NOT NULL,
      sender_id   text NOT NULL,
      approved_at bigint NOT NULL,
      approved_by text NOT NULL,
      PRIMARY KEY (channel, account, sender_id)
    );
    `,
  },
  {
    version: 3,
    name: 'channel cursors',
    // Where an account's transport resumes (Matrix's next_batch, a gateway's session and
    // sequence): written after the batch it follows is committed.
    sqlite: `
  CREATE TABLE channel_cursors (
    channel    TEXT NOT NULL,
    account    TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account)
  );
  `,
    postgres: `
    CREATE TABLE %s.channel_cursors (
      channel    text NOT NULL,
      account    text NOT NULL,
      value      jsonb NOT NULL,
      updated_at bigint NOT NULL,
      PRIMARY KEY (channel, account)
    );
    `,
  },
  {
    version: 4,
    name: 'delivery receipts',
    // The platform's status of a delivery (WhatsApp's sent, delivered, read, failed) and the
    // proof a status gave that the part in flight arrived (its index and platform id), kept
    // until the send's own outcome is known. Receipts find their row by id: no index.
    sqlite: `
  ALTER TABLE deliveries ADD COLUMN receipt_status TEXT;
  ALTER TABLE deliveries ADD COLUMN receipt_at INTEGER;
  ALTER TABLE deliveries ADD COLUMN receipt_error TEXT;
  ALTER TABLE deliveries ADD COLUMN proof_part INTEGER;
  ALTER TABLE deliveries ADD COLUMN proof_id TEXT;
  `,
    postgres: `
    ALTER TABLE %s.deliveries
      ADD COLUMN receipt_status text,
      ADD COLUMN receipt_at bigint,
      ADD COLUMN receipt_error text,
      ADD COLUMN proof_part integer,
      ADD COLUMN proof_id text;
    `,
  },
  {
    version: 5,
    name: 'agent journal and approvals',
    // The tool loop's journal: a row per model call (call -1) and per tool call of each step,
    // written before it runs and again with its result, so a redelivered message replays what
    // finished. Approvals: a tool call waiting for an operator, with the exact arguments that
    // an approval runs and what its continuation needs to answer in the same place; the id is
    // derived from the message, step and call, so a replayed step finds its approval again.
    sqlite: `
  CREATE TABLE agent_journal (
    message_id TEXT NOT NULL,
    step       INTEGER NOT NULL,
    call       INTEGER NOT NULL,
    state      TEXT NOT NULL,
    entry      TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, step, call)
  );
  CREATE TABLE approvals (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    sender          TEXT,
    tool            TEXT NOT NULL,
    arguments       TEXT NOT NULL,
    request         TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    decided_by      TEXT,
    continuation_id TEXT
  );
  CREATE INDEX approvals_pending ON approvals(expires_at) WHERE state = 'pending';
  CREATE INDEX approvals_undispatched ON approvals(decided_at) WHERE continuation_id IS NULL AND state <> 'pending';
  CREATE INDEX approvals_by_created ON approvals(created_at);
  CREATE INDEX agent_journal_by_time ON agent_journal(updated_at);
  `,
    postgres: `
    CREATE TABLE %s.agent_journal (
      message_id text NOT NULL,
      step       integer NOT NULL,
      call       integer NOT NULL,
      state      text NOT NULL,
      entry      jsonb NOT NULL,
      attempt    integer NOT NULL,
      updated_at bigint NOT NULL,
      PRIMARY KEY (message_id, step, call)
    );
    CREATE TABLE %s.approvals (
      id              text PRIMARY KEY,
      message_id      text NOT NULL,
      conversation_id text NOT NULL,
      channel         text NOT NULL,
      sender          text,
      tool            text NOT NULL,
      arguments       text NOT NULL,
      request         jsonb NOT NULL,
      state           text NOT NULL,
      created_at      bigint NOT NULL,
      expires_at      bigint NOT NULL,
      decided_at      bigint,
      decided_by      text,
      continuation_id text
    );
    CREATE INDEX approvals_pending ON %s.approvals (expires_at) WHERE state = 'pending';
    CREATE INDEX approvals_undispatched ON %s.approvals (decided_at) WHERE continuation_id IS NULL AND state <> 'pending';
    CREATE INDEX approvals_by_created ON %s.approvals (created_at);
    CREATE INDEX agent_journal_by_time ON %s.agent_journal (updated_at);
    `,
  },
  {
    version: 6,
    name: 'agent memory',
    // Memory never touches the ingest or ack path: no triggers on messages. The search index
    // (memory_turns, and SQLite's FTS5 table whose rowid is the turn's seq) is filled lazily
    // before a search, up to a per-conversation watermark (memory_state.indexed_seq); the
    // words are tokenized in TypeScript (src/text/tokens.ts), the same on both backends.
    // forgotten_seq: nothing at or before it is indexed or summarised again (DELETE memory).
    // A summary's key is its conversation and first turn, so two nodes cannot make one twice.
    sqlite: `
  CREATE TABLE memory_state (
    conversation_id TEXT PRIMARY KEY,
    indexed_seq     INTEGER NOT NULL DEFAULT 0,
    forgotten_seq   INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE memory_turns (
    seq             INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    sender          TEXT,
    channel         TEXT NOT NULL,
    at              INTEGER NOT NULL,
    text            TEXT NOT NULL,
    reply           TEXT
  );
  CREATE INDEX memory_turns_by_conversation ON memory_turns(conversation_id, seq);
  CREATE VIRTUAL TABLE memory_fts USING fts5(tokens, tokenize = 'unicode61 remove_diacritics 0');
  CREATE TABLE memory_facts (
    id         TEXT PRIMARY KEY,
    channel    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX memory_facts_by_sender ON memory_facts(channel, sender_id, created_at);
  CREATE TABLE memory_summaries (
    conversation_id TEXT NOT NULL,
    from_seq        INTEGER NOT NULL,
    to_seq          INTEGER NOT NULL,
    turns           INTEGER NOT NULL,
    text            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, from_seq)
  );
  `,
    postgres: `
    CREATE TABLE %s.memory_state (
      conversation_id text PRIMARY KEY,
      indexed_seq     bigint NOT NULL DEFAULT 0,
      forgotten_seq   bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE %s.memory_turns (
      seq             bigint PRIMARY KEY,
      conversation_id text NOT NULL,
      message_id      text NOT NULL,
      sender          text,
      channel         text NOT NULL,
      at              bigint NOT NULL,
      text            text NOT NULL,
      reply           text,
      lexemes         tsvector NOT NULL
    );
    CREATE INDEX memory_turns_by_conversation ON %s.memory_turns (conversation_id, seq);
    CREATE INDEX memory_turns_lexemes ON %s.memory_turns USING gin (lexemes);
    CREATE TABLE %s.memory_facts (
      id         text PRIMARY KEY,
      channel    text NOT NULL,
      sender_id  text NOT NULL,
      text       text NOT NULL,
      created_at bigint NOT NULL
    );
    CREATE INDEX memory_facts_by_sender ON %s.memory_facts (channel, sender_id, created_at);
    CREATE TABLE %s.memory_summaries (
      conversation_id text NOT NULL,
      from_seq        bigint NOT NULL,
      to_seq          bigint NOT NULL,
      turns           integer NOT NULL,
      text            text NOT NULL,
      created_at      bigint NOT NULL,
      PRIMARY KEY (conversation_id, from_seq)
    );
    `,
  },
  {
    version: 7,
    name: 'knowledge base',
    // Sources, their chunks, the chunks' words, embedding vectors per model, and questions the
    // knowledge base could not answer (src/store/knowledge-types.ts). The words come tokenized
    // from TypeScript (src/text/tokens.ts), the same on both backends: SQLite keeps them in an
    // ordinary FTS5 table (it holds its own copy, so a row is deleted by rowid alone) whose
    // rowid is the chunk's seq, with diacritics kept as PostgreSQL's tsvector literals keep
    // them. kb_state.generation moves on every change of chunks or vectors, and in PostgreSQL
    // its row lock serialises the knowledge base's writes across nodes. An unanswered
    // question's id is a hash of its words: asked again, it counts up.
    sqlite: `
  CREATE TABLE kb_sources (
    id         TEXT PRIMARY KEY,
    uri        TEXT NOT NULL UNIQUE,
    title      TEXT NOT NULL,
    format     TEXT,
    sha256     TEXT,
    bytes      INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL,
    error      TEXT,
    chunks     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    indexed_at INTEGER
  );
  CREATE TABLE kb_chunks (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    source_id    TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    questions    TEXT NOT NULL,
    text         TEXT NOT NULL,
    line_start   INTEGER,
    line_end     INTEGER,
    page         INTEGER,
    tokens       INTEGER NOT NULL,
    hash         TEXT NOT NULL
  );
  CREATE INDEX kb_chunks_by_source ON kb_chunks(source_id, ordinal);
  CREATE VIRTUAL TABLE kb_fts USING fts5(head, body, tokenize = 'unicode61 remove_diacritics 0');
  CREATE TABLE kb_vectors (
    model    TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    dims     INTEGER NOT NULL,
    v        BLOB NOT NULL,
    PRIMARY KEY (model, chunk_id)
  ) WITHOUT ROWID;
  CREATE INDEX kb_vectors_by_chunk ON kb_vectors(chunk_id);
  CREATE TABLE kb_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
  );
  INSERT INTO kb_state (id, generation) VALUES (1, 0);
  CREATE TABLE kb_unanswered (
    id              TEXT PRIMARY KEY,
    query           TEXT NOT NULL,
    conversation_id TEXT,
    channel         TEXT,
    top_chunk_id    TEXT,
    score           REAL,
    at              INTEGER NOT NULL,
    count           INTEGER NOT NULL
  );
  CREATE INDEX kb_unanswered_by_at ON kb_unanswered(at);
  `,
    postgres: `
    CREATE TABLE %s.kb_sources (
      id         text PRIMARY KEY,
      uri        text NOT NULL UNIQUE,
      title      text NOT NULL,
      format     text,
      sha256     text,
      bytes      bigint NOT NULL DEFAULT 0,
      status     text NOT NULL,
      error      text,
      chunks     integer NOT NULL DEFAULT 0,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      indexed_at bigint
    );
    CREATE TABLE %s.kb_chunks (
      seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id           text NOT NULL UNIQUE,
      source_id    text NOT NULL REFERENCES %s.kb_sources (id) ON DELETE CASCADE,
      ordinal      integer NOT NULL,
      kind         text NOT NULL,
      heading_path jsonb NOT NULL,
      questions    jsonb NOT NULL,
      text         text NOT NULL,
      line_start   integer,
      line_end     integer,
      page         integer,
      tokens       integer NOT NULL,
      hash         text NOT NULL,
      lexemes      tsvector NOT NULL
    );
    CREATE INDEX kb_chunks_by_source ON %s.kb_chunks (source_id, ordinal);
    CREATE INDEX kb_chunks_lexemes ON %s.kb_chunks USING gin (lexemes);
    CREATE TABLE %s.kb_vectors (
      model    text NOT NULL,
      chunk_id text NOT NULL REFERENCES %s.kb_chunks (id) ON DELETE CASCADE,
      dims     integer NOT NULL,
      v        bytea NOT NULL,
      PRIMARY KEY (model, chunk_id)
    );
    CREATE INDEX kb_vectors_by_chunk ON %s.kb_vectors (chunk_id);
    CREATE TABLE %s.kb_state (
      id         integer PRIMARY KEY CHECK (id = 1),
      generation bigint NOT NULL
    );
    INSERT INTO %s.kb_state (id, generation) VALUES (1, 0);
    CREATE TABLE %s.kb_unanswered (
      id              text PRIMARY KEY,
      query           text NOT NULL,
      conversation_id text,
      channel         text,
      top_chunk_id    text,
      score           double precision,
      at              bigint NOT NULL,
      count           integer NOT NULL
    );
    CREATE INDEX kb_unanswered_by_at ON %s.kb_unanswered (at);
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
