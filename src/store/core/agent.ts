import type { ApprovalRecord, ApprovalState, JournalEntry, JsonObject } from '../types.js';

/** An approvals row as both backends return it; JSON is text in SQLite, parsed in PostgreSQL. */
export interface ApprovalRow {
  id: string;
  message_id: string;
  conversation_id: string;
  channel: string;
  sender: string | null;
  tool: string;
  arguments: string;
  request: string | JsonObject;
  state: string;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_by: string | null;
  continuation_id: string | null;
}

export interface JournalRow {
  step: number;
  call: number;
  state: string;
  entry: string | JsonObject;
  attempt: number;
}

/** What `decided_by` says when nobody answered in time. */
export const EXPIRY_DECIDER = 'expiry';

/** The approval states a continuation is owed for. */
export const DECIDED_STATES_SQL = "('approved','denied','expired')";

const json = (value: string | JsonObject): JsonObject => (typeof value === 'string' ? (JSON.parse(value) as JsonObject) : value);

export function toApproval(row: ApprovalRow): ApprovalRecord {
  return {
    id: row.id,
    messageId: row.message_id,
    conversationId: row.conversation_id,
    channel: row.channel,
    sender: row.sender,
    tool: row.tool,
    arguments: row.arguments,
    request: json(row.request),
    state: row.state as ApprovalState,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    continuationId: row.continuation_id,
  };
}

export function toJournalEntry(row: JournalRow): JournalEntry {
  return { step: row.step, call: row.call, state: row.state as JournalEntry['state'], entry: json(row.entry), attempt: row.attempt };
}
