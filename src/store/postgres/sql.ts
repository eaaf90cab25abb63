import { ACTIVE_STATES_SQL } from './schema.js';

export type Sql = ReturnType<typeof buildSql>;

/**
 * Every statement of the PostgreSQL backend, one named entry each (pg-boss's plans.ts idea), for
 * the schema `s` (quoted). Parameters are arrays wherever a batch goes in one round trip.
 */
export function buildSql(s: string) {
  const messages = `${s}.messages`;
  const conversations = `${s}.conversations`;
  const depthSlots = `${s}.depth_slots`;
  const ACTIVE = ACTIVE_STATES_SQL;
  // A record ($12) is stored as done: history, never work.
  const insertRows = `
        INSERT INTO ${messages} (id, conversation_id, idempotency_key, text, sender, channel, priority, metadata, state, head, rank, due_at, created_at, updated_at, finished_at)
        SELECT id, conversation_id, idempotency_key, text, sender, channel, priority, metadata::jsonb, CASE WHEN record THEN 'done' ELSE 'queued' END, head, rank, $11, $11, $11,
          CASE WHEN record THEN $11::bigint END
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::text[], $9::boolean[], $10::bigint[], $12::boolean[])
          WITH ORDINALITY AS t(id, conversation_id, idempotency_key, text, sender, channel, priority, metadata, head, rank, record, ord)
        ORDER BY ord
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING state`;
  return {
    depth: `SELECT sum(n)::bigint AS n FROM ${depthSlots}`,
    /** Existing idempotency keys and the cluster-wide depth: one round trip. */
    enqueueLookup: `
      SELECT 'k' AS kind, id, conversation_id, state, idempotency_key, 0::bigint AS n FROM ${messages} WHERE idempotency_key = ANY($1::text[])
      UNION ALL
      SELECT 'd', NULL, NULL, NULL, NULL, sum(n)::bigint FROM ${depthSlots}`,
    revived: `
      WITH d AS (UPDATE ${depthSlots} SET n = n + $1 WHERE slot = $2)
      SELECT pg_notify($3, $4)`,
    /** Counts new messages in and locks each conversation's row, in id order (creating it if needed). */
    lockForEnqueue: `
      INSERT INTO ${conversations} AS c (id, active)
      SELECT id, n FROM unnest($1::text[], $2::int[]) AS t(id, n) ORDER BY id COLLATE "C"
      ON CONFLICT (id) DO UPDATE SET active = c.active + EXCLUDED.active
      RETURNING c.id, c.active`,
    lockConversations: `SELECT id FROM ${conversations} WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE`,
    insert: `
      WITH ins AS (${insertRows}), q AS (SELECT count(*) AS queued FROM ins WHERE state = 'queued'), d AS (
        -- Reads ins, so it runs after the insert: the slot is the transaction's last lock.
        UPDATE ${depthSlots} SET n = n + (SELECT queued FROM q) WHERE slot = $15
      )
      SELECT (SELECT count(*) FROM ins) AS n, CASE WHEN queued > 0 THEN pg_notify($13, $14) END FROM q`,
    /** The rows of `insert` alone, with the same parameters ($1-$12): run in a savepoint that is rolled back, to find the rows the database refuses. */
    probeInsert: `WITH ins AS (${insertRows}) SELECT count(*) AS n FROM ins`,
    /**
     * A claim is committed without waiting for its WAL flush (synchronous_commit off for this
     * transaction only): losing it in a database crash only re-delivers the message, and any
     * later durable commit (an ack) flushes it first.
     */
    claim: `
      WITH c AS (
        SELECT seq, state, attempts FROM ${messages}
        WHERE head AND state IN ${ACTIVE} AND due_at <= $1
          AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL
        ORDER BY rank LIMIT $2
        FOR UPDATE SKIP LOCKED
      ), u AS (
        UPDATE ${messages} m SET state = 'processing', attempts = m.attempts + 1, lease = m.lease + 1, due_at = $3, started_at = $1, updated_at = $1
        FROM c WHERE m.seq = c.seq AND NOT (c.state = 'processing' AND c.attempts >= $4)
        RETURNING m.*
      )
      SELECT u.*, false AS expired FROM u
      UNION ALL
      SELECT m.*, true FROM ${messages} m JOIN c ON m.seq = c.seq WHERE c.state = 'processing' AND c.attempts >= $4`,
    expireToDead: `
      UPDATE ${messages} m SET state = 'dead', head = false, last_error = t.error, finished_at = $4, updated_at = $4
      FROM unnest($1::text[], $2::int[], $3::text[]) AS t(id, lease, error)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing' AND m.due_at <= $4
      RETURNING m.id, m.conversation_id, m.attempts, m.last_error`,
    extend: `
      UPDATE ${messages} m SET due_at = $3, updated_at = $4
      FROM unnest($1::text[], $2::int[]) AS t(id, lease)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id`,
    conversationsOf: `SELECT id, conversation_id FROM ${messages} WHERE id = ANY($1::text[])`,
    complete: `
      UPDATE ${messages} m SET state = 'done', head = false, analysis = t.analysis::jsonb, reply = t.reply::jsonb, last_error = NULL, finished_at = $5, updated_at = $5
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS t(id, lease, analysis, reply)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id, m.conversation_id`,
    leasedAttempts: `
      SELECT m.id, m.attempts FROM ${messages} m JOIN unnest($1::text[], $2::int[]) AS t(id, lease) ON m.id = t.id AND m.lease = t.lease
      WHERE m.state = 'processing' FOR UPDATE OF m`,
    failToDead: `
      UPDATE ${messages} m SET state = 'dead', head = false, analysis = coalesce(t.analysis::jsonb, m.analysis), last_error = t.error, finished_at = $5, updated_at = $5
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS t(id, lease, analysis, error)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id, m.conversation_id`,
    failToRetry: `
      UPDATE ${messages} m SET state = 'failed', analysis = coalesce(t.analysis::jsonb, m.analysis), last_error = t.error, due_at = t.due_at, updated_at = $6
      FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[]) AS t(id, lease, analysis, error, due_at)
      WHERE m.id = t.id AND m.lease = t.lease AND m.state = 'processing'
      RETURNING m.id`,
    /** Count finished messages out of their (locked) conversations and promote each next head. */
    finish: `
      WITH d AS (
        UPDATE ${conversations} c SET active = c.active - t.n
        FROM unnest($1::text[], $2::int[]) AS t(id, n) WHERE c.id = t.id
        RETURNING c.id, c.active
      ), p AS (
        UPDATE ${messages} SET head = true
        WHERE seq IN (
          SELECT (SELECT m.seq FROM ${messages} m WHERE m.conversation_id = d.id AND m.state IN ${ACTIVE} ORDER BY m.seq LIMIT 1)
          FROM d WHERE d.active > 0
        ) AND NOT head
        RETURNING 1
      ), dd AS (
        UPDATE ${depthSlots} SET n = n - $5 WHERE slot = $6
      )
      SELECT promoted, CASE WHEN promoted > 0 THEN pg_notify($3, $4) END FROM (SELECT count(*) AS promoted FROM p) x`,
    release: `
      WITH u AS (
        UPDATE ${messages} SET state = 'queued', attempts = attempts - 1, due_at = $3, updated_at = $3
        WHERE id = $1 AND lease = $2 AND state = 'processing'
        RETURNING 1
      ), n AS (SELECT count(*) AS n FROM u)
      SELECT n, CASE WHEN n > 0 THEN pg_notify($4, $5) END FROM n`,
    get: `SELECT * FROM ${messages} WHERE id = $1`,
    conversation: `SELECT * FROM ${messages} WHERE conversation_id = $1 ORDER BY seq LIMIT $2 OFFSET $3`,
    latest: `SELECT * FROM (SELECT * FROM ${messages} WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2) t ORDER BY seq`,
    dead: `SELECT * FROM ${messages} WHERE state = 'dead' ORDER BY finished_at DESC, seq DESC LIMIT $1 OFFSET $2`,
    deadTargets: `SELECT id, conversation_id FROM ${messages} WHERE state = 'dead' AND ($1::text[] IS NULL OR id = ANY($1::text[])) ORDER BY seq`,
    revive: `
      WITH r AS (
        UPDATE ${messages} SET state = 'queued', attempts = 0, head = false, due_at = $2, finished_at = NULL, updated_at = $2
        WHERE id = $1 AND state = 'dead'
        RETURNING conversation_id
      )
      UPDATE ${conversations} c SET active = c.active + 1 FROM r WHERE c.id = r.conversation_id RETURNING c.id`,
    /**
     * Make the oldest unfinished message the head, unless the head is being processed. The
     * demotion re-checks the state after any concurrent claim, so a message a worker just took
     * is never demoted.
     */
    demoteWaitingHead: `UPDATE ${messages} SET head = false WHERE conversation_id = $1 AND head AND state IN ('queued','failed')`,
    nextDue: `SELECT min(due_at) AS due FROM ${messages} WHERE head AND state IN ${ACTIVE}`,
    counts: `
      SELECT state, priority, count(*) AS n, min(created_at) AS oldest FROM ${messages} WHERE state IN ${ACTIVE} GROUP BY state, priority
      UNION ALL
      SELECT 'dead', 0, count(*), NULL FROM ${messages} WHERE state = 'dead'`,
    countDone: `SELECT count(*) AS n FROM ${messages} WHERE state = 'done'`,
    seqBounds: `SELECT min(seq) AS lo, max(seq) AS hi FROM ${messages}`,
    createdAtFrom: `SELECT seq, created_at FROM ${messages} WHERE seq >= $1 ORDER BY seq LIMIT 1`,
    purgeChunk: `DELETE FROM ${messages} WHERE seq IN (SELECT seq FROM ${messages} WHERE seq <= $1 AND state = 'done' LIMIT $2)`,
    /** Conversations with nothing unfinished need no row; an enqueue creates it again. */
    purgeConversations: `DELETE FROM ${conversations} WHERE active = 0`,
    promoteOldest: `
      UPDATE ${messages} SET head = true
      WHERE seq = (SELECT seq FROM ${messages} WHERE conversation_id = $1 AND state IN ${ACTIVE} ORDER BY seq LIMIT 1)
        AND NOT head
        AND NOT EXISTS (SELECT 1 FROM ${messages} WHERE conversation_id = $1 AND head AND state IN ${ACTIVE})`,
  };
}
