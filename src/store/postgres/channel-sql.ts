import { FINISHED_DELIVERY_STATES_SQL, OPEN_DELIVERY_STATES_SQL } from '../migrations.js';

export type ChannelSql = ReturnType<typeof buildChannelSql>;

/**
 * The statements of the channel tables (outbox, job leases, pairing) for the schema `s`
 * (quoted), beside sql.ts's messages. Arrays go in wherever a batch takes one round trip.
 */
export function buildChannelSql(s: string) {
  const deliveries = `${s}.deliveries`;
  const leases = `${s}.job_leases`;
  const pairings = `${s}.channel_pairings`;
  const approvals = `${s}.channel_approvals`;
  const cursors = `${s}.channel_cursors`;
  // A row is its lane's head when no open row of the lane comes before it, and may go out only
  // when nothing of the lane is sending (a retried older row may sit before a sending one).
  const laneFree = `NOT EXISTS (SELECT 1 FROM ${deliveries} o WHERE o.lane = d.lane AND o.state IN ${OPEN_DELIVERY_STATES_SQL} AND (o.seq < d.seq OR o.state = 'sending'))`;
  return {
    /** $1-$7 the rows, $8 now, $9/$10 the NOTIFY channel and this node (heard by the other nodes at COMMIT). */
    insertDeliveries: `
      WITH ins AS (
        INSERT INTO ${deliveries} (id, message_id, channel, account, lane, target, body, state, available_at, created_at, updated_at)
        SELECT id, message_id, channel, account, lane, target::jsonb, body::jsonb, 'queued', $8, $8, $8
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
          WITH ORDINALITY AS t(id, message_id, channel, account, lane, target, body, ord)
        ORDER BY ord
        ON CONFLICT (id) DO NOTHING
        RETURNING 1
      ), n AS (SELECT count(*) AS n FROM ins)
      SELECT n, CASE WHEN n > 0 THEN pg_notify($9, $10) END FROM n`,
    /**
     * The first half of a claim: due lane heads, each kept only if this transaction gets its
     * lane's advisory lock ($3 is the lock class of this schema's lanes). MATERIALIZED makes
     * the lock calls run on the chosen rows only.
     */
    claimLanes: `
      WITH c AS MATERIALIZED (
        SELECT d.seq, d.lane FROM ${deliveries} d
        WHERE d.state IN ('queued','failed') AND d.available_at <= $1 AND ${laneFree}
        ORDER BY d.seq LIMIT $2
      )
      SELECT seq FROM c WHERE pg_try_advisory_xact_lock($3::int, hashtext(c.lane))`,
    /**
     * The second half, a statement of its own so its snapshot is taken after the locks: it
     * sees every claim committed in those lanes before, and checks the heads again.
     */
    claimLocked: `
      UPDATE ${deliveries} d SET state = 'sending', lease = d.lease + 1, lease_until = $3, attempts = d.attempts + 1, updated_at = $2
      WHERE d.seq = ANY($1::bigint[]) AND d.state IN ('queued','failed') AND d.available_at <= $2 AND ${laneFree}
      RETURNING d.*`,
    /** $1-$11 the patch (core/deliveries.ts), $12 now, $13/$14 the claim, $15 whether to NOTIFY on $16 from $17. */
    patch: `
      WITH u AS (
        UPDATE ${deliveries} SET state = $1, plan = coalesce($2::jsonb, plan), next_part = coalesce($3::int, next_part), receipts = coalesce($4::jsonb, receipts),
          attempts = attempts + $5::int, rate_limited = rate_limited + $6::int, available_at = coalesce($7::bigint, available_at),
          last_error = CASE WHEN $8::int = 1 THEN $9::text ELSE last_error END, error_class = CASE WHEN $8::int = 1 THEN $10::text ELSE error_class END,
          sent_at = coalesce($11::bigint, sent_at), updated_at = $12
        WHERE id = $13 AND lease = $14 AND state = 'sending'
        RETURNING 1
      ), n AS (SELECT count(*) AS n FROM u)
      SELECT n, CASE WHEN n > 0 AND $15::boolean THEN pg_notify($16, $17) END FROM n`,
    extend: `
      UPDATE ${deliveries} d SET lease_until = $3, updated_at = $4
      FROM unnest($1::text[], $2::int[]) AS t(id, lease)
      WHERE d.id = t.id AND d.lease = t.lease AND d.state = 'sending'
      RETURNING d.id`,
    expiredSending: `SELECT id, lease, channel, account FROM ${deliveries} WHERE state = 'sending' AND lease_until <= $1 ORDER BY seq`,
    /** Fenced by lease and expiry: a sender that extended its lease meanwhile keeps it. */
    recover: `
      WITH u AS (
        UPDATE ${deliveries} d SET
          state = CASE WHEN t.resend THEN 'queued' ELSE 'ambiguous' END,
          available_at = CASE WHEN t.resend THEN $4 ELSE d.available_at END,
          last_error = CASE WHEN t.resend THEN d.last_error ELSE $5 END,
          error_class = CASE WHEN t.resend THEN d.error_class ELSE 'ambiguous' END,
          updated_at = $4
        FROM unnest($1::text[], $2::int[], $3::boolean[]) AS t(id, lease, resend)
        WHERE d.id = t.id AND d.lease = t.lease AND d.state = 'sending' AND d.lease_until <= $4
        RETURNING d.state
      ), n AS (SELECT count(*) AS n, count(*) FILTER (WHERE state = 'queued') AS requeued FROM u)
      SELECT n, requeued, CASE WHEN n > 0 THEN pg_notify($6, $7) END FROM n`,
    /** A receipt's row, locked until the receipt's transaction ends. */
    receiptRow: `SELECT state, receipts, receipt_status, receipt_at, receipt_error FROM ${deliveries} WHERE id = $1 AND channel = $2 AND account = $3 FOR UPDATE`,
    writeReceipt: `
      UPDATE ${deliveries} SET receipt_status = $2, receipt_at = $3, receipt_error = $4, receipts = coalesce($5::jsonb, receipts),
        proof_part = coalesce($6::int, proof_part), proof_id = coalesce($7::text, proof_id), updated_at = $8
      WHERE id = $1`,
    /**
     * A receipt proved that the part after the recorded ones arrived, and no send of it is in
     * flight: it is sent, and the delivery goes on with its next part (or finishes) when claimed.
     */
    resolveProven: `
      UPDATE ${deliveries} SET state = 'queued', next_part = next_part + 1, receipts = receipts || jsonb_build_array(proof_id),
        last_error = NULL, error_class = NULL, proof_part = NULL, proof_id = NULL, updated_at = $1
      WHERE id = ANY($2::text[]) AND state IN ('ambiguous','queued','failed') AND proof_part = next_part`,
    notify: `SELECT pg_notify($1, $2)`,
    get: `SELECT * FROM ${deliveries} WHERE id = $1`,
    list: `SELECT * FROM ${deliveries} WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR channel = $2) ORDER BY seq DESC LIMIT $3 OFFSET $4`,
    retry: `
      WITH u AS (
        UPDATE ${deliveries} SET state = 'queued', attempts = 0, available_at = $2, updated_at = $2 WHERE id = $1 AND state IN ('ambiguous','dead','failed')
        RETURNING 1
      ), n AS (SELECT count(*) AS n FROM u)
      SELECT n, CASE WHEN n > 0 THEN pg_notify($3, $4) END FROM n`,
    counts: `SELECT channel, account, state, count(*)::int AS count FROM ${deliveries} GROUP BY channel, account, state ORDER BY channel, account, state`,
    nextDue: `
      SELECT least(
        (SELECT min(d.available_at) FROM ${deliveries} d WHERE d.state IN ('queued','failed') AND ${laneFree}),
        (SELECT min(lease_until) FROM ${deliveries} WHERE state = 'sending')
      ) AS due`,
    purgeChunk: `DELETE FROM ${deliveries} WHERE seq IN (SELECT seq FROM ${deliveries} WHERE state IN ${FINISHED_DELIVERY_STATES_SQL} AND updated_at < $1 LIMIT $2)`,

    /** Atomic across nodes: the row lock of ON CONFLICT orders concurrent acquires, and the WHERE sees the winner's row. */
    acquireLease: `
      INSERT INTO ${leases} AS l (name, holder, fence, expires_at) VALUES ($1, $2, 1, $3)
      ON CONFLICT (name) DO UPDATE SET fence = CASE WHEN l.holder = EXCLUDED.holder THEN l.fence ELSE l.fence + 1 END, holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
      WHERE l.holder IS NULL OR l.holder = EXCLUDED.holder OR l.expires_at <= $4
      RETURNING name, holder, fence, expires_at`,
    renewLease: `UPDATE ${leases} SET expires_at = $1 WHERE name = $2 AND holder = $3 AND fence = $4`,
    releaseLease: `UPDATE ${leases} SET holder = NULL, expires_at = $1 WHERE name = $2 AND holder = $3 AND fence = $4`,
    listLeases: `SELECT name, holder, fence, expires_at FROM ${leases} WHERE holder IS NOT NULL ORDER BY name`,
    getCursor: `SELECT value FROM ${cursors} WHERE channel = $1 AND account = $2`,
    setCursor: `INSERT INTO ${cursors} (channel, account, value, updated_at) VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (channel, account) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,

    lockAccount: `SELECT pg_advisory_xact_lock($1::int, hashtext($2 || ':' || $3))`,
    /** Expired requests of the account, and an expired one holding the code: they hold nothing any more. */
    deleteExpiredPairings: `DELETE FROM ${pairings} WHERE channel = $1 AND expires_at <= $4 AND (account = $2 OR code = $3)`,
    liveOfSender: `SELECT * FROM ${pairings} WHERE channel = $1 AND account = $2 AND sender_id = $3 AND expires_at > $4`,
    liveOfAccount: `SELECT count(*)::int AS n FROM ${pairings} WHERE channel = $1 AND account = $2 AND expires_at > $3`,
    insertPairing: `INSERT INTO ${pairings} (channel, account, sender_id, code, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1`,
    listPairings: `SELECT * FROM ${pairings} WHERE ($1::text IS NULL OR channel = $1) AND expires_at > $2 ORDER BY created_at DESC, channel, account, sender_id`,
    /** Take the request and, if it is live, approve its sender: one statement. */
    approve: `
      WITH t AS (DELETE FROM ${pairings} WHERE channel = $1 AND code = $2 RETURNING *), a AS (
        INSERT INTO ${approvals} (channel, account, sender_id, approved_at, approved_by)
        SELECT channel, account, sender_id, $3, $4 FROM t WHERE t.expires_at > $3
        ON CONFLICT (channel, account, sender_id) DO UPDATE SET approved_at = EXCLUDED.approved_at, approved_by = EXCLUDED.approved_by
      )
      SELECT * FROM t`,
    deny: `DELETE FROM ${pairings} WHERE channel = $1 AND code = $2 RETURNING *`,
    isApproved: `SELECT 1 AS one FROM ${approvals} WHERE channel = $1 AND account = $2 AND sender_id = $3`,
    revokeApproval: `DELETE FROM ${approvals} WHERE channel = $1 AND account = $2 AND sender_id = $3`,
    purgePairings: `DELETE FROM ${pairings} WHERE expires_at <= $1`,
  };
}
