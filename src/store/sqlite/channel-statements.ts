import type Database from 'better-sqlite3';
import type { DeliveryRow, LeaseRow, PairingRow } from '../core/deliveries.js';
import { FINISHED_DELIVERY_STATES_SQL, OPEN_DELIVERY_STATES_SQL } from '../migrations.js';
import type { DeliveryState } from '../types.js';

type Row = DeliveryRow<string>;
type Statement<P extends unknown[] = unknown[], R = unknown> = Database.Statement<P, R>;

/** The patch of one DeliveryChange as named parameters (see core/deliveries.ts). */
export interface PatchParameters {
  state: DeliveryState;
  plan: string | null;
  next_part: number | null;
  receipts: string | null;
  attempts_delta: number;
  rate_limited_delta: number;
  available_at: number | null;
  sets_error: number;
  last_error: string | null;
  error_class: string | null;
  sent_at: number | null;
  now: number;
  id: string;
  lease: number;
}

/**
 * A row is its lane's head when no open row of the lane comes before it, and may go out only
 * when nothing of the lane is sending (a retried older row may sit before a sending one).
 */
const LANE_FREE = `NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.lane = d.lane AND o.state IN ${OPEN_DELIVERY_STATES_SQL} AND (o.seq < d.seq OR o.state = 'sending'))`;

export interface ChannelStatements {
  insertDelivery: Statement<[string, string | null, string, string, string, string, string, number, number, number]>;
  claimable: Statement<[number, number], Row>;
  markSending: Statement<[number, number, number], Row>;
  patch: Statement<[PatchParameters]>;
  extend: Statement<[number, number, string, number]>;
  expiredSending: Statement<[number], Pick<Row, 'id' | 'lease' | 'channel' | 'account'>>;
  recoverToQueued: Statement<[number, number, string, number, number]>;
  recoverToAmbiguous: Statement<[string, number, string, number, number]>;
  getDelivery: Statement<[string], Row>;
  listDeliveries: Statement<[{ state: string | null; channel: string | null; limit: number; offset: number }], Row>;
  retryDelivery: Statement<[number, number, string]>;
  counts: Statement<[], { channel: string; account: string; state: DeliveryState; count: number }>;
  nextDue: Statement<[], { due: number | null }>;
  purgeChunk: Statement<[number, number]>;
  receiptRow: Statement<[string, string, string], Pick<Row, 'state' | 'receipts' | 'receipt_status' | 'receipt_at' | 'receipt_error'>>;
  writeReceipt: Statement<[{ status: string; at: number; error: string | null; receipts: string | null; proof_part: number | null; proof_id: string | null; now: number; id: string }]>;
  resolveProven: Statement<[number, string]>;
  sendingAtOpen: Statement<[number, number]>;

  acquireLease: Statement<[{ name: string; holder: string; expires_at: number; now: number }], LeaseRow>;
  renewLease: Statement<[number, string, string, number]>;
  releaseLease: Statement<[number, string, string, number]>;
  listLeases: Statement<[], LeaseRow>;

  deleteExpiredPairings: Statement<[string, number, string, string]>;
  liveOfSender: Statement<[string, string, string, number], PairingRow>;
  liveOfAccount: Statement<[string, string, number], { n: number }>;
  insertPairing: Statement<[string, string, string, string, number, number]>;
  listPairings: Statement<[{ channel: string | null; now: number }], PairingRow>;
  takePairing: Statement<[string, string], PairingRow>;
  approve: Statement<[string, string, string, number, string]>;
  isApproved: Statement<[string, string, string], { one: number }>;
  revokeApproval: Statement<[string, string, string]>;
  purgePairings: Statement<[number]>;

  getCursor: Statement<[string, string], { value: string }>;
  setCursor: Statement<[string, string, string, number]>;
}

export function prepareChannelStatements(db: Database.Database): ChannelStatements {
  return {
    insertDelivery: db.prepare(
      `INSERT INTO deliveries (id, message_id, channel, account, lane, target, body, state, available_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    claimable: db.prepare(`SELECT d.* FROM deliveries d WHERE d.state IN ('queued','failed') AND d.available_at <= ? AND ${LANE_FREE} ORDER BY d.seq LIMIT ?`),
    markSending: db.prepare(`UPDATE deliveries SET state = 'sending', lease = lease + 1, lease_until = ?, attempts = attempts + 1, updated_at = ? WHERE seq = ? RETURNING *`),
    patch: db.prepare(
      `UPDATE deliveries SET state = @state, plan = coalesce(@plan, plan), next_part = coalesce(@next_part, next_part), receipts = coalesce(@receipts, receipts),
         attempts = attempts + @attempts_delta, rate_limited = rate_limited + @rate_limited_delta, available_at = coalesce(@available_at, available_at),
         last_error = CASE WHEN @sets_error = 1 THEN @last_error ELSE last_error END, error_class = CASE WHEN @sets_error = 1 THEN @error_class ELSE error_class END,
         sent_at = coalesce(@sent_at, sent_at), updated_at = @now
       WHERE id = @id AND lease = @lease AND state = 'sending'`,
    ),
    extend: db.prepare(`UPDATE deliveries SET lease_until = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'sending'`),
    expiredSending: db.prepare(`SELECT id, lease, channel, account FROM deliveries WHERE state = 'sending' AND lease_until <= ? ORDER BY seq`),
    recoverToQueued: db.prepare(`UPDATE deliveries SET state = 'queued', available_at = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'sending' AND lease_until <= ?`),
    recoverToAmbiguous: db.prepare(
      `UPDATE deliveries SET state = 'ambiguous', last_error = ?, error_class = 'ambiguous', updated_at = ? WHERE id = ? AND lease = ? AND state = 'sending' AND lease_until <= ?`,
    ),
    getDelivery: db.prepare('SELECT * FROM deliveries WHERE id = ?'),
    listDeliveries: db.prepare(
      'SELECT * FROM deliveries WHERE (@state IS NULL OR state = @state) AND (@channel IS NULL OR channel = @channel) ORDER BY seq DESC LIMIT @limit OFFSET @offset',
    ),
    retryDelivery: db.prepare(`UPDATE deliveries SET state = 'queued', attempts = 0, available_at = ?, updated_at = ? WHERE id = ? AND state IN ('ambiguous','dead','failed')`),
    counts: db.prepare('SELECT channel, account, state, COUNT(*) AS count FROM deliveries GROUP BY channel, account, state ORDER BY channel, account, state'),
    nextDue: db.prepare(
      `SELECT MIN(t) AS due FROM (
         SELECT MIN(d.available_at) AS t FROM deliveries d WHERE d.state IN ('queued','failed') AND ${LANE_FREE}
         UNION ALL
         SELECT MIN(lease_until) FROM deliveries WHERE state = 'sending')`,
    ),
    purgeChunk: db.prepare(`DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE state IN ${FINISHED_DELIVERY_STATES_SQL} AND updated_at < ? LIMIT ?)`),
    receiptRow: db.prepare('SELECT state, receipts, receipt_status, receipt_at, receipt_error FROM deliveries WHERE id = ? AND channel = ? AND account = ?'),
    writeReceipt: db.prepare(
      `UPDATE deliveries SET receipt_status = @status, receipt_at = @at, receipt_error = @error, receipts = coalesce(@receipts, receipts),
         proof_part = coalesce(@proof_part, proof_part), proof_id = coalesce(@proof_id, proof_id), updated_at = @now
       WHERE id = @id`,
    ),
    // A receipt proved that the part after the recorded ones arrived, and no send of it is in
    // flight: it is sent, and the delivery goes on with its next part (or finishes) when claimed.
    resolveProven: db.prepare(
      `UPDATE deliveries SET state = 'queued', next_part = next_part + 1, receipts = json_insert(receipts, '$[#]', proof_id),
         last_error = NULL, error_class = NULL, proof_part = NULL, proof_id = NULL, updated_at = ?
       WHERE id = ? AND state IN ('ambiguous','queued','failed') AND proof_part = next_part`,
    ),
    sendingAtOpen: db.prepare(`UPDATE deliveries SET lease_until = ?, updated_at = ? WHERE state = 'sending'`),

    // A free (released or expired) lease changes holder and fence; the holder's own is renewed.
    acquireLease: db.prepare(
      `INSERT INTO job_leases (name, holder, fence, expires_at) VALUES (@name, @holder, 1, @expires_at)
       ON CONFLICT (name) DO UPDATE SET fence = CASE WHEN holder = excluded.holder THEN fence ELSE fence + 1 END, holder = excluded.holder, expires_at = excluded.expires_at
       WHERE holder IS NULL OR holder = excluded.holder OR expires_at <= @now
       RETURNING name, holder, fence, expires_at`,
    ),
    renewLease: db.prepare('UPDATE job_leases SET expires_at = ? WHERE name = ? AND holder = ? AND fence = ?'),
    releaseLease: db.prepare('UPDATE job_leases SET holder = NULL, expires_at = ? WHERE name = ? AND holder = ? AND fence = ?'),
    listLeases: db.prepare('SELECT name, holder, fence, expires_at FROM job_leases WHERE holder IS NOT NULL ORDER BY name'),
    getCursor: db.prepare('SELECT value FROM channel_cursors WHERE channel = ? AND account = ?'),
    setCursor: db.prepare('INSERT INTO channel_cursors (channel, account, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (channel, account) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at'),

    // Expired requests of the account, and an expired one holding the code: they hold nothing any more.
    deleteExpiredPairings: db.prepare('DELETE FROM channel_pairings WHERE channel = ? AND expires_at <= ? AND (account = ? OR code = ?)'),
    liveOfSender: db.prepare('SELECT * FROM channel_pairings WHERE channel = ? AND account = ? AND sender_id = ? AND expires_at > ?'),
    liveOfAccount: db.prepare('SELECT COUNT(*) AS n FROM channel_pairings WHERE channel = ? AND account = ? AND expires_at > ?'),
    insertPairing: db.prepare('INSERT INTO channel_pairings (channel, account, sender_id, code, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
    listPairings: db.prepare('SELECT * FROM channel_pairings WHERE (@channel IS NULL OR channel = @channel) AND expires_at > @now ORDER BY created_at DESC, channel, account, sender_id'),
    takePairing: db.prepare('DELETE FROM channel_pairings WHERE channel = ? AND code = ? RETURNING *'),
    approve: db.prepare(
      `INSERT INTO channel_approvals (channel, account, sender_id, approved_at, approved_by) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (channel, account, sender_id) DO UPDATE SET approved_at = excluded.approved_at, approved_by = excluded.approved_by`,
    ),
    isApproved: db.prepare('SELECT 1 AS one FROM channel_approvals WHERE channel = ? AND account = ? AND sender_id = ?'),
    revokeApproval: db.prepare('DELETE FROM channel_approvals WHERE channel = ? AND account = ? AND sender_id = ?'),
    purgePairings: db.prepare('DELETE FROM channel_pairings WHERE expires_at <= ?'),
  };
}
