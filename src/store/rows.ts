import { PRIORITY_NAME } from './ranking.js';
import type { JsonObject, MessageRecord, MessageState, Reply } from './types.js';

/**
 * The messages table's row as both SQL backends store it: the same columns, with JSON held as
 * text (SQLite, `J` = string) or as jsonb the driver has already parsed (PostgreSQL, `J` =
 * the value), and a head flag SQLite keeps as 0/1.
 */
export interface MessageRow<J> {
  seq: number;
  id: string;
  conversation_id: string;
  idempotency_key: string | null;
  text: string;
  sender: string | null;
  channel: string;
  priority: number;
  metadata: J | null;
  state: MessageState;
  head: number | boolean;
  rank: number;
  due_at: number;
  lease: number;
  attempts: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  analysis: J | null;
  reply: J | null;
  last_error: string | null;
}

export function toRecord<J>(row: MessageRow<J>, json: (value: J) => unknown): MessageRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    text: row.text,
    sender: row.sender,
    channel: row.channel,
    priority: PRIORITY_NAME[row.priority] ?? 'normal',
    metadata: row.metadata === null ? null : (json(row.metadata) as JsonObject),
    idempotencyKey: row.idempotency_key,
    state: row.state,
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    availableAt: row.due_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    analysis: row.analysis === null ? {} : (json(row.analysis) as JsonObject),
    reply: row.reply === null ? null : (json(row.reply) as Reply),
    lastError: row.last_error,
  };
}
