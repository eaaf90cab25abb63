import { createHash } from 'node:crypto';
import { PincerError } from '../../errors.js';
import { tokenize } from '../../text/tokens.js';
import type { MemoryFact, MemoryHit, MemorySummary, MemoryTurn, SenderKey } from '../memory-types.js';
import { ACTIVE_STATES_SQL } from '../migrations.js';

/**
 * Memory policy both backends share: which turns are stable enough to index or summarise, how
 * a turn becomes words, how queries are quoted for each engine, fact ids and row shapes.
 */

/** Words indexed per turn at most: a pasted document must not blow up one row. */
export const MAX_TURN_TOKENS = 2000;
/** Terms of one query at most (an OR of them). */
export const MAX_QUERY_TERMS = 32;

/**
 * The finished turns of a conversation that may be indexed or summarised, as a condition on
 * `messages m` (`messages` the table's name, `c` the conversation id's placeholder). A turn is stable once it is
 * done and older than every unfinished message of its conversation: a context-only record
 * stored while an earlier message is still being answered must not move a watermark past it.
 */
export function stableTurnsWhere(messages: string, c: string): string {
  return `m.conversation_id = ${c} AND m.state = 'done' AND m.seq < COALESCE((SELECT min(a.seq) FROM ${messages} a WHERE a.conversation_id = ${c} AND a.state IN ${ACTIVE_STATES_SQL}), 9007199254740991)`;
}

/** The words a turn is found by: what was said and what the bot answered. */
export function turnTokens(turn: Pick<MemoryTurn, 'text' | 'reply'>): string[] {
  return tokenize(turn.reply ? `${turn.text}\n${turn.reply}` : turn.text, MAX_TURN_TOKENS);
}

/**
 * An FTS5 MATCH expression: each term a quoted phrase (a `"` doubled), joined by OR, so no
 * query text is ever read as FTS syntax (`"a" OR *`, `NEAR(`, `-x`, `col:`).
 */
export function fts5Query(terms: readonly string[]): string {
  return terms
    .slice(0, MAX_QUERY_TERMS)
    .map((t) => `"${t.replace(/"/g, '""')}"`)
    .join(' OR ');
}

/**
 * A tsquery literal (cast with ::tsquery, which does not parse words again): each term a
 * quoted lexeme with `'` doubled and `\` escaped, joined by `|`.
 */
export function tsQuery(terms: readonly string[]): string {
  return terms.slice(0, MAX_QUERY_TERMS).map(lexeme).join(' | ');
}

/**
 * A tsvector literal of a turn's words with their positions (cast with ::tsvector: PostgreSQL
 * keeps the words as they are, and the positions let ts_rank count repeats). `weight` marks
 * every position (the knowledge base's headings are A); `from` is the first position.
 */
export function tsVector(words: readonly string[], weight: '' | 'A' = '', from = 1): string {
  return words.map((w, i) => `${lexeme(w)}:${i + from}${weight}`).join(' ');
}

const lexeme = (word: string): string => `'${word.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** A fact's id: the same sender saying the same thing twice keeps one fact. */
export function factId(key: SenderKey, text: string): string {
  return `f_${createHash('sha256').update(`${key.channel}\u0000${key.senderId}\u0000${text}`).digest('hex').slice(0, 16)}`;
}

export function factsFull(key: SenderKey, max: number): PincerError {
  return new PincerError('MEMORY_FACTS_FULL', `this sender has ${max} facts remembered already (memory.max_facts); forget one first`, { channel: key.channel, max });
}

export interface TurnRow {
  seq: number;
  message_id: string;
  conversation_id: string;
  sender: string | null;
  channel: string;
  at: number;
  text: string;
  reply: string | null;
}

export const toTurn = (r: TurnRow): MemoryTurn => ({
  seq: Number(r.seq),
  messageId: r.message_id,
  conversationId: r.conversation_id,
  sender: r.sender,
  channel: r.channel,
  at: Number(r.at),
  text: r.text,
  reply: r.reply,
});

export const toHit = (r: TurnRow & { score: number }): MemoryHit => ({ ...toTurn(r), score: Number(r.score) });

export interface FactRow {
  id: string;
  channel: string;
  sender_id: string;
  text: string;
  created_at: number;
}

export const toFact = (r: FactRow): MemoryFact => ({ id: r.id, channel: r.channel, senderId: r.sender_id, text: r.text, createdAt: Number(r.created_at) });

export interface SummaryRow {
  conversation_id: string;
  from_seq: number;
  to_seq: number;
  turns: number;
  text: string;
  created_at: number;
}

export const toSummary = (r: SummaryRow): MemorySummary => ({
  conversationId: r.conversation_id,
  fromSeq: Number(r.from_seq),
  toSeq: Number(r.to_seq),
  turns: Number(r.turns),
  text: r.text,
  createdAt: Number(r.created_at),
});

/** A message row as a turn: the reply is stored as JSON text (SQLite) or jsonb (PostgreSQL). */
export interface MessageTurnRow {
  seq: number;
  id: string;
  conversation_id: string;
  sender: string | null;
  channel: string;
  created_at: number;
  text: string;
  reply_text: string | null;
}

export const messageTurn = (r: MessageTurnRow): MemoryTurn => ({
  seq: Number(r.seq),
  messageId: r.id,
  conversationId: r.conversation_id,
  sender: r.sender,
  channel: r.channel,
  at: Number(r.created_at),
  text: r.text,
  reply: r.reply_text,
});

/** A block is cut only when whole, so every node cuts the same ranges. */
export function wholeBlock(rows: readonly MessageTurnRow[], size: number): MemoryTurn[] | undefined {
  return rows.length >= size ? rows.slice(0, size).map(messageTurn) : undefined;
}
