import type Database from 'better-sqlite3';
import type { MessageRow } from '../rows.js';
import type { MessageState } from '../types.js';
import { ACTIVE_STATES_SQL } from './schema.js';

type Row = MessageRow<string>;

type Statement<P extends unknown[] = unknown[], R = unknown> = Database.Statement<P, R>;

/** Every statement of the SQLite backend, prepared once per open database. */
export interface Statements {
  byKey: Statement<[string], Pick<Row, 'id' | 'conversation_id' | 'state'>>;
  hasActive: Statement<[string], { one: number }>;
  insert: Statement;
  claimable: Statement<[number, number], Row>;
  markProcessing: Statement<[number, number, number, number, string]>;
  expireToDead: Statement<[string, number, number, number]>;
  extend: Statement<[number, number, string, number]>;
  complete: Statement<[string | null, string, number, number, string, number], Pick<Row, 'conversation_id'>>;
  claimedRow: Statement<[string, number], Pick<Row, 'conversation_id' | 'attempts'>>;
  toDead: Statement<[string | null, string, number, number, string]>;
  toRetry: Statement<[string | null, string, number, number, string]>;
  release: Statement<[number, number, string, number]>;
  promoteNext: Statement<[string]>;
  get: Statement<[string], Row>;
  conversation: Statement<[string, number, number], Row>;
  latest: Statement<[string, number], Row>;
  dead: Statement<[number, number], Row>;
  deadIds: Statement<[], Pick<Row, 'id'>>;
  revive: Statement<[number, number, string], Pick<Row, 'conversation_id'>>;
  headOf: Statement<[string], { seq: number; state: MessageState }>;
  demote: Statement<[number]>;
  nextDue: Statement<[], { due: number | null }>;
  countByState: Statement<[], { state: MessageState; priority: number; n: number }>;
  countDone: Statement<[], { n: number }>;
  seqBounds: Statement<[], { lo: number | null; hi: number | null }>;
  createdAtFrom: Statement<[number], { seq: number; created_at: number }>;
  purgeChunk: Statement<[number, number]>;
  countDead: Statement<[], { n: number }>;
  oldestWaiting: Statement<[], { t: number | null }>;
}

export function prepareStatements(db: Database.Database): Statements {
  return {
    byKey: db.prepare('SELECT id, conversation_id, state FROM messages WHERE idempotency_key = ?'),
    hasActive: db.prepare(`SELECT 1 AS one FROM messages WHERE conversation_id = ? AND state IN ${ACTIVE_STATES_SQL} LIMIT 1`),
    insert: db.prepare(
      `INSERT INTO messages (id, conversation_id, idempotency_key, text, sender, channel, priority, metadata, state, head, rank, due_at, created_at, updated_at, finished_at)
       VALUES (@id, @conversation_id, @idempotency_key, @text, @sender, @channel, @priority, @metadata, @state, @head, @rank, @due_at, @created_at, @created_at, @finished_at)`,
    ),
    claimable: db.prepare(
      `SELECT * FROM messages WHERE head = 1 AND state IN ${ACTIVE_STATES_SQL} AND due_at <= ? ORDER BY rank LIMIT ?`,
    ),
    markProcessing: db.prepare(
      `UPDATE messages SET state = 'processing', attempts = attempts + 1, lease = lease + 1, due_at = ?, started_at = ?, updated_at = ? WHERE seq = ? AND id = ?`,
    ),
    expireToDead: db.prepare(
      `UPDATE messages SET state = 'dead', head = 0, last_error = ?, finished_at = ?, updated_at = ? WHERE seq = ?`,
    ),
    extend: db.prepare(
      `UPDATE messages SET due_at = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'processing'`,
    ),
    complete: db.prepare(
      `UPDATE messages SET state = 'done', head = 0, analysis = ?, reply = ?, last_error = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND lease = ? AND state = 'processing' RETURNING conversation_id`,
    ),
    claimedRow: db.prepare(
      `SELECT conversation_id, attempts FROM messages WHERE id = ? AND lease = ? AND state = 'processing'`,
    ),
    toDead: db.prepare(
      `UPDATE messages SET state = 'dead', head = 0, analysis = coalesce(?, analysis), last_error = ?, finished_at = ?, updated_at = ? WHERE id = ?`,
    ),
    toRetry: db.prepare(
      `UPDATE messages SET state = 'failed', analysis = coalesce(?, analysis), last_error = ?, due_at = ?, updated_at = ? WHERE id = ?`,
    ),
    release: db.prepare(
      `UPDATE messages SET state = 'queued', attempts = attempts - 1, due_at = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'processing'`,
    ),
    promoteNext: db.prepare(
      `UPDATE messages SET head = 1 WHERE seq = (SELECT seq FROM messages WHERE conversation_id = ? AND state IN ${ACTIVE_STATES_SQL} ORDER BY seq LIMIT 1) AND head = 0`,
    ),
    get: db.prepare('SELECT * FROM messages WHERE id = ?'),
    conversation: db.prepare('SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq LIMIT ? OFFSET ?'),
    latest: db.prepare('SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
    dead: db.prepare(`SELECT * FROM messages WHERE state = 'dead' ORDER BY finished_at DESC LIMIT ? OFFSET ?`),
    deadIds: db.prepare(`SELECT id FROM messages WHERE state = 'dead'`),
    revive: db.prepare(
      `UPDATE messages SET state = 'queued', attempts = 0, head = 0, due_at = ?, finished_at = NULL, updated_at = ? WHERE id = ? AND state = 'dead' RETURNING conversation_id`,
    ),
    headOf: db.prepare(`SELECT seq, state FROM messages WHERE conversation_id = ? AND head = 1 AND state IN ${ACTIVE_STATES_SQL}`),
    demote: db.prepare('UPDATE messages SET head = 0 WHERE seq = ?'),
    nextDue: db.prepare(`SELECT MIN(due_at) AS due FROM messages WHERE head = 1 AND state IN ${ACTIVE_STATES_SQL}`),
    countByState: db.prepare(
      `SELECT state, priority, COUNT(*) AS n FROM messages WHERE state IN ${ACTIVE_STATES_SQL} GROUP BY state, priority`,
    ),
    countDone: db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE state = 'done'`),
    seqBounds: db.prepare('SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM messages'),
    createdAtFrom: db.prepare('SELECT seq, created_at FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1'),
    purgeChunk: db.prepare(`DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE seq <= ? AND state = 'done' LIMIT ?)`),
    countDead: db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE state = 'dead'`),
    // The ACTIVE_STATES_SQL term lets SQLite use the (small) partial index instead of the whole table.
    oldestWaiting: db.prepare(`SELECT MIN(created_at) AS t FROM messages WHERE state IN ${ACTIVE_STATES_SQL} AND state <> 'processing'`),
  };
}
