import { createHash, randomBytes } from 'node:crypto';
import { endianness } from 'node:os';
import type { KbFormat } from '../../kb/types.js';
import { tokenize } from '../../text/tokens.js';
import type { KbChunkRecord, KbIndexedChunk, KbSourceRecord, KbUnansweredRecord, KbVector } from '../knowledge-types.js';
import { MAX_QUERY_TERMS } from './memory.js';

/**
 * Knowledge-base policy both backends share: ids, how a replacement matches old chunks to
 * new ones, bounds, the vector encoding, how unanswered questions are grouped, row shapes.
 */

/** Most rows one search, listing or embedding batch returns. */
export const MAX_KB_LIMIT = 1000;
/** Words indexed per column of a chunk at most: a chunker gone wrong must not blow up one row (or PostgreSQL's 1 MB tsvector). */
export const MAX_LEX_WORDS = 20_000;
/**
 * How much more a word counts in the heading-and-questions column than in the body: FTS5's
 * BM25 column weights (this against 1), PostgreSQL's ts_rank_cd weights (A 1 against D
 * 1/this; they must lie in [0, 1], so this is at least 1).
 */
export const HEAD_WEIGHT = 3;

export const newSourceId = (): string => `ks_${randomBytes(10).toString('hex')}`;
export const newChunkId = (): string => `kc_${randomBytes(10).toString('hex')}`;

/** A `limit` as the engines take it: a whole number from 0 to MAX_KB_LIMIT (NaN is 0). */
export function boundLimit(limit: number, max = MAX_KB_LIMIT): number {
  return Number.isNaN(limit) ? 0 : Math.max(0, Math.min(max, Math.floor(limit)));
}

/** A query's terms as the engines get them: distinct, no empty ones (no engine agrees on those), at most MAX_QUERY_TERMS. */
export function queryTerms(terms: readonly string[]): string[] {
  return [...new Set(terms.filter((t) => t.trim().length > 0))].slice(0, MAX_QUERY_TERMS);
}

/** A lex string as indexed words, bounded. */
export function lexWords(lex: string): string[] {
  return lex.split(/\s+/).filter(Boolean).slice(0, MAX_LEX_WORDS);
}

/** What a replacement does: chunks kept (old id, new content), added, and old ids removed. */
export interface ReplacePlan {
  keep: Array<{ id: string; chunk: KbIndexedChunk }>;
  add: Array<{ id: string; chunk: KbIndexedChunk }>;
  remove: string[];
}

/**
 * Match a source's new chunks to its old ones by hash: an old chunk with the same hash gives
 * its id (and so its vectors) to the first new chunk that has it, so a hash that occurs twice
 * keeps both ids. `existing` in the order their ids should be handed out (by ordinal).
 */
export function planReplace(existing: ReadonlyArray<{ id: string; hash: string }>, chunks: readonly KbIndexedChunk[]): ReplacePlan {
  const free = new Map<string, string[]>();
  for (const e of existing) {
    const ids = free.get(e.hash);
    if (ids) ids.push(e.id);
    else free.set(e.hash, [e.id]);
  }
  const plan: ReplacePlan = { keep: [], add: [], remove: [] };
  for (const chunk of chunks) {
    const id = free.get(chunk.hash)?.shift();
    if (id) plan.keep.push({ id, chunk });
    else plan.add.push({ id: newChunkId(), chunk });
  }
  for (const ids of free.values()) plan.remove.push(...ids);
  return plan;
}

const littleEndian = endianness() === 'LE';

/** A vector as stored: Float32, little-endian, whatever the machine. */
export function vectorBytes(vector: Float32Array): Buffer {
  if (littleEndian) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
  const out = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => out.writeFloatLE(x, i * 4));
  return out;
}

/** A stored vector back (copied: a driver's buffer may be unaligned or pooled). */
export function bytesVector(bytes: Uint8Array): Float32Array {
  const n = Math.floor(bytes.byteLength / 4);
  if (!littleEndian) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
  }
  const copy = new Uint8Array(n * 4);
  copy.set(bytes.subarray(0, n * 4));
  return new Float32Array(copy.buffer);
}

/** One vector per chunk (the last given wins): a statement must not write one row twice. */
export function distinctVectors(vectors: readonly KbVector[]): KbVector[] {
  return [...new Map(vectors.map((v) => [v.chunkId, v])).values()];
}

/**
 * An unanswered question's id: a hash of its words, so "How do I reset?" and "how do i
 * reset" are one record. A question with no words is grouped by its trimmed lower-case text.
 */
export function unansweredId(query: string): string {
  const words = tokenize(query).join(' ') || query.trim().toLowerCase();
  return `ku_${createHash('sha256').update(words).digest('hex').slice(0, 24)}`;
}

export interface SourceRow {
  id: string;
  uri: string;
  title: string;
  format: string | null;
  sha256: string | null;
  bytes: number;
  status: string;
  error: string | null;
  chunks: number;
  created_at: number;
  updated_at: number;
  indexed_at: number | null;
}

export const toSource = (r: SourceRow): KbSourceRecord => ({
  id: r.id,
  uri: r.uri,
  title: r.title,
  format: r.format as KbFormat | null,
  sha256: r.sha256,
  bytes: Number(r.bytes),
  status: r.status === 'indexed' ? 'indexed' : 'error',
  error: r.error,
  chunks: Number(r.chunks),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  indexedAt: r.indexed_at === null ? null : Number(r.indexed_at),
});

/** heading_path and questions are JSON text in SQLite, jsonb (already parsed) in PostgreSQL. */
type JsonList = string | string[];
const list = (v: JsonList): string[] => (typeof v === 'string' ? (JSON.parse(v) as string[]) : v);

export interface ChunkRow {
  id: string;
  source_id: string;
  source_uri: string;
  source_title: string;
  ordinal: number;
  kind: string;
  heading_path: JsonList;
  questions: JsonList;
  text: string;
  line_start: number | null;
  line_end: number | null;
  page: number | null;
  tokens: number;
  hash: string;
}

const nullableNumber = (v: number | null): number | null => (v === null ? null : Number(v));

export const toChunkRecord = (r: ChunkRow): KbChunkRecord => ({
  id: r.id,
  sourceId: r.source_id,
  sourceUri: r.source_uri,
  sourceTitle: r.source_title,
  ordinal: Number(r.ordinal),
  kind: r.kind === 'faq' ? 'faq' : 'section',
  headingPath: list(r.heading_path),
  questions: list(r.questions),
  text: r.text,
  lineStart: nullableNumber(r.line_start),
  lineEnd: nullableNumber(r.line_end),
  page: nullableNumber(r.page),
  tokens: Number(r.tokens),
  hash: r.hash,
});

/** The chunks found, in the order their ids were asked for. */
export function inOrder(ids: readonly string[], records: readonly KbChunkRecord[]): KbChunkRecord[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

export interface ChunkToEmbedRow {
  id: string;
  text: string;
  heading_path: JsonList;
  questions: JsonList;
}

export const toChunkToEmbed = (r: ChunkToEmbedRow) => ({ chunkId: r.id, text: r.text, headingPath: list(r.heading_path), questions: list(r.questions) });

export interface UnansweredRow {
  id: string;
  query: string;
  conversation_id: string | null;
  channel: string | null;
  top_chunk_id: string | null;
  score: number | null;
  at: number;
  count: number;
}

export const toUnanswered = (r: UnansweredRow): KbUnansweredRecord => ({
  id: r.id,
  query: r.query,
  conversationId: r.conversation_id,
  channel: r.channel,
  topChunkId: r.top_chunk_id,
  score: r.score === null ? null : Number(r.score),
  at: Number(r.at),
  count: Number(r.count),
});
