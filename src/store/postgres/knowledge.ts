import type pg from 'pg';
import {
  boundLimit,
  bytesVector,
  distinctVectors,
  HEAD_WEIGHT,
  inOrder,
  lexWords,
  newSourceId,
  planReplace,
  queryTerms,
  toChunkRecord,
  toChunkToEmbed,
  toSource,
  toUnanswered,
  unansweredId,
  vectorBytes,
  type ChunkRow,
  type ChunkToEmbedRow,
  type SourceRow,
  type UnansweredRow,
} from '../core/knowledge.js';
import { tsQuery, tsVector } from '../core/memory.js';
import type {
  KbChunkRecord,
  KbChunkToEmbed,
  KbFailureInput,
  KbIndexedChunk,
  KbLexicalHit,
  KbReplaceResult,
  KbSourceInput,
  KbSourceRecord,
  KbUnansweredEntry,
  KbUnansweredRecord,
  KbVector,
  KnowledgeStore,
} from '../knowledge-types.js';
import type { PostgresMemoryHost } from './memory.js';
import { retrying, transaction } from './tx.js';

/** What the knowledge tables need from the PostgreSQL queue they live beside: the same as memory's. */
export type PostgresKnowledgeHost = PostgresMemoryHost;

/** The columns a chunk's arrays fill, in parameter order, with their element types and how each becomes its column. */
const CHUNK_ARRAYS: ReadonlyArray<[column: string, type: string, value: string]> = [
  ['id', 'text', 't.id'],
  ['ordinal', 'int', 't.ordinal'],
  ['kind', 'text', 't.kind'],
  ['heading_path', 'text', 't.heading_path::jsonb'],
  ['questions', 'text', 't.questions::jsonb'],
  ['text', 'text', 't.text'],
  ['line_start', 'int', 't.line_start'],
  ['line_end', 'int', 't.line_end'],
  ['page', 'int', 't.page'],
  ['tokens', 'int', 't.tokens'],
  ['hash', 'text', 't.hash'],
  ['lexemes', 'text', 't.lexemes::tsvector'],
];

/** `unnest(...) WITH ORDINALITY AS t(...)` over the chunk arrays, their parameters from `$first`. */
function chunkRows(first: number): string {
  const args = CHUNK_ARRAYS.map(([, type], i) => `$${first + i}::${type}[]`).join(', ');
  return `unnest(${args}) WITH ORDINALITY AS t(${CHUNK_ARRAYS.map(([c]) => c).join(', ')}, n)`;
}

/** Chunks as the parameter arrays of `chunkRows`. */
function chunkArrays(rows: ReadonlyArray<{ id: string; chunk: KbIndexedChunk }>): unknown[][] {
  const fields = (id: string, c: KbIndexedChunk): unknown[] => {
    const head = lexWords(c.lexHead);
    const lexemes = `${tsVector(head, 'A')} ${tsVector(lexWords(c.lexBody), '', head.length + 1)}`;
    return [id, c.ordinal, c.kind, JSON.stringify(c.headingPath), JSON.stringify(c.questions), c.text, c.lineStart, c.lineEnd, c.page, c.tokens, c.hash, lexemes];
  };
  const columns: unknown[][] = CHUNK_ARRAYS.map(() => []);
  for (const { id, chunk } of rows) fields(id, chunk).forEach((v, i) => columns[i]!.push(v));
  return columns;
}

/** Every statement of the knowledge tables for the quoted schema `s`. */
export function buildKnowledgeSql(s: string) {
  const CHUNK = `c.id, c.source_id, so.uri AS source_uri, so.title AS source_title, c.ordinal, c.kind, c.heading_path, c.questions, c.text, c.line_start, c.line_end, c.page, c.tokens, c.hash`;
  // ts_rank_cd's weights are {D, C, B, A}: the body (D) against headings and questions (A) as in SQLite's BM25 columns.
  const body = (1 / HEAD_WEIGHT).toFixed(4);
  const RANK = `ts_rank_cd('{${body}, ${body}, ${body}, 1}'::float4[], c.lexemes, q, 1)`;
  return {
    /** First in every transaction that changes chunks or vectors: the row lock serialises them across nodes. */
    lock: `SELECT generation FROM ${s}.kb_state WHERE id = 1 FOR UPDATE`,
    bump: `UPDATE ${s}.kb_state SET generation = generation + 1 WHERE id = 1`,
    generation: `SELECT generation FROM ${s}.kb_state WHERE id = 1`,
    sourceById: `SELECT * FROM ${s}.kb_sources WHERE id = $1`,
    sourceByUri: `SELECT * FROM ${s}.kb_sources WHERE uri = $1`,
    sources: `SELECT * FROM ${s}.kb_sources ORDER BY uri`,
    upsertIndexed: `
      INSERT INTO ${s}.kb_sources AS so (id, uri, title, format, sha256, bytes, status, error, chunks, created_at, updated_at, indexed_at)
      VALUES ($1, $2, $3, $4, $5, $6, 'indexed', NULL, 0, $7, $7, $7)
      ON CONFLICT (uri) DO UPDATE SET title = EXCLUDED.title, format = EXCLUDED.format, sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes,
        status = 'indexed', error = NULL, updated_at = EXCLUDED.updated_at, indexed_at = EXCLUDED.indexed_at
      RETURNING *`,
    upsertFailed: `
      INSERT INTO ${s}.kb_sources AS so (id, uri, title, format, sha256, bytes, status, error, chunks, created_at, updated_at, indexed_at)
      VALUES ($1, $2, COALESCE($3, $2), NULL, $4, COALESCE($5::bigint, 0), 'error', $6, 0, $7, $7, NULL)
      ON CONFLICT (uri) DO UPDATE SET title = COALESCE($3, so.title), sha256 = EXCLUDED.sha256, bytes = COALESCE($5::bigint, so.bytes),
        status = 'error', error = EXCLUDED.error, updated_at = EXCLUDED.updated_at
      RETURNING *`,
    setCount: `UPDATE ${s}.kb_sources SET chunks = $2 WHERE id = $1 RETURNING *`,
    existing: `SELECT id, hash FROM ${s}.kb_chunks WHERE source_id = $1 ORDER BY ordinal, seq`,
    /** Vectors go with their chunks (ON DELETE CASCADE). */
    deleteChunks: `DELETE FROM ${s}.kb_chunks WHERE id = ANY($1::text[])`,
    updateChunks: `
      UPDATE ${s}.kb_chunks c SET ${CHUNK_ARRAYS.slice(1)
        .map(([column, , value]) => `${column} = ${value}`)
        .join(', ')}
      FROM ${chunkRows(1)} WHERE c.id = t.id`,
    insertChunks: `
      INSERT INTO ${s}.kb_chunks (source_id, ${CHUNK_ARRAYS.map(([c]) => c).join(', ')})
      SELECT $1, ${CHUNK_ARRAYS.map(([, , v]) => v).join(', ')} FROM ${chunkRows(2)} ORDER BY t.n`,
    deleteSource: `DELETE FROM ${s}.kb_sources WHERE id = $1`,
    search: `
      SELECT c.id AS chunk_id, ${RANK} AS score FROM ${s}.kb_chunks c, CAST($1 AS tsquery) AS q
      WHERE c.lexemes @@ q ORDER BY score DESC, c.seq LIMIT $2`,
    df: `SELECT t.term, (SELECT count(*)::int FROM ${s}.kb_chunks c WHERE c.lexemes @@ t.q::tsquery) AS n FROM unnest($1::text[], $2::text[]) AS t(term, q)`,
    total: `SELECT COALESCE(sum(chunks), 0)::int AS n FROM ${s}.kb_sources`,
    chunks: `SELECT ${CHUNK} FROM ${s}.kb_chunks c JOIN ${s}.kb_sources so ON so.id = c.source_id WHERE c.id = ANY($1::text[])`,
    vectors: `SELECT chunk_id, v FROM ${s}.kb_vectors WHERE model = $1`,
    unembedded: `
      SELECT c.id, c.text, c.heading_path, c.questions FROM ${s}.kb_chunks c
      LEFT JOIN ${s}.kb_vectors v ON v.model = $1 AND v.chunk_id = c.id
      WHERE v.chunk_id IS NULL ORDER BY c.seq LIMIT $2`,
    putVectors: `
      INSERT INTO ${s}.kb_vectors (model, chunk_id, dims, v)
      SELECT $1, t.id, t.dims, t.v FROM unnest($2::text[], $3::int[], $4::bytea[]) AS t(id, dims, v) JOIN ${s}.kb_chunks c ON c.id = t.id
      ON CONFLICT (model, chunk_id) DO UPDATE SET dims = EXCLUDED.dims, v = EXCLUDED.v`,
    logUnanswered: `
      INSERT INTO ${s}.kb_unanswered AS u (id, query, conversation_id, channel, top_chunk_id, score, at, count)
      VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
      ON CONFLICT (id) DO UPDATE SET query = EXCLUDED.query, conversation_id = EXCLUDED.conversation_id, channel = EXCLUDED.channel,
        top_chunk_id = EXCLUDED.top_chunk_id, score = EXCLUDED.score, at = EXCLUDED.at, count = u.count + 1`,
    listUnanswered: `SELECT * FROM ${s}.kb_unanswered ORDER BY at DESC, id LIMIT $1 OFFSET $2`,
    purgeUnanswered: `DELETE FROM ${s}.kb_unanswered WHERE at < $1`,
  };
}

type KnowledgeSql = ReturnType<typeof buildKnowledgeSql>;

/**
 * The knowledge base in the cluster's schema: each chunk's words a tsvector literal (heading
 * and questions weight A, body D; a literal, so PostgreSQL's parser never splits them
 * differently from SQLite) under a GIN index, ranked with ts_rank_cd. Every change of chunks
 * or vectors first locks kb_state's row, so nodes replace sources one at a time and a vector
 * is never written for a chunk another node is deleting.
 */
export class PostgresKnowledge implements KnowledgeStore {
  private readonly sql: KnowledgeSql;

  constructor(private readonly host: PostgresKnowledgeHost) {
    this.sql = buildKnowledgeSql(host.schema);
  }

  private get pool(): pg.Pool {
    this.host.assertOpen();
    return this.host.pool;
  }

  async replaceSource(source: KbSourceInput, chunks: readonly KbIndexedChunk[]): Promise<KbReplaceResult> {
    return transaction(this.pool, async (client) => {
      await client.query(this.sql.lock);
      const now = this.host.now();
      const row = (await client.query<SourceRow>(this.sql.upsertIndexed, [newSourceId(), source.uri, source.title, source.format, source.sha256, source.bytes, now])).rows[0]!;
      const existing = (await client.query<{ id: string; hash: string }>(this.sql.existing, [row.id])).rows;
      const plan = planReplace(existing, chunks);
      if (plan.remove.length > 0) await client.query(this.sql.deleteChunks, [plan.remove]);
      if (plan.keep.length > 0) await client.query(this.sql.updateChunks, chunkArrays(plan.keep));
      if (plan.add.length > 0) await client.query(this.sql.insertChunks, [row.id, ...chunkArrays(plan.add)]);
      await client.query(this.sql.bump);
      const updated = (await client.query<SourceRow>(this.sql.setCount, [row.id, chunks.length])).rows[0]!;
      return { source: toSource(updated), added: plan.add.length, kept: plan.keep.length, removed: plan.remove.length };
    });
  }

  async failSource(source: KbFailureInput, error: string): Promise<KbSourceRecord> {
    const params = [newSourceId(), source.uri, source.title ?? null, source.sha256 ?? null, source.bytes ?? null, error, this.host.now()];
    const { rows } = await retrying(() => this.pool.query<SourceRow>(this.sql.upsertFailed, params));
    return toSource(rows[0]!);
  }

  async deleteSource(id: string): Promise<boolean> {
    return transaction(this.pool, async (client) => {
      await client.query(this.sql.lock);
      const deleted = ((await client.query(this.sql.deleteSource, [id])).rowCount ?? 0) > 0;
      if (deleted) await client.query(this.sql.bump);
      return deleted;
    });
  }

  async getSource(idOrUri: string): Promise<KbSourceRecord | undefined> {
    const byId = (await this.pool.query<SourceRow>(this.sql.sourceById, [idOrUri])).rows[0];
    const row = byId ?? (await this.pool.query<SourceRow>(this.sql.sourceByUri, [idOrUri])).rows[0];
    return row && toSource(row);
  }

  async listSources(): Promise<KbSourceRecord[]> {
    return (await this.pool.query<SourceRow>(this.sql.sources)).rows.map(toSource);
  }

  async searchLexical(terms: readonly string[], limit: number): Promise<KbLexicalHit[]> {
    const q = queryTerms(terms);
    const n = boundLimit(limit);
    if (q.length === 0 || n === 0) return [];
    const { rows } = await this.pool.query<{ chunk_id: string; score: number }>(this.sql.search, [tsQuery(q), n]);
    return rows.map((r) => ({ chunkId: r.chunk_id, score: Number(r.score) }));
  }

  async termStats(terms: readonly string[]): Promise<{ chunks: number; df: Record<string, number> }> {
    const q = queryTerms(terms);
    const df: Record<string, number> = {};
    if (q.length > 0) {
      const { rows } = await this.pool.query<{ term: string; n: number }>(this.sql.df, [q, q.map((t) => tsQuery([t]))]);
      for (const r of rows) df[r.term] = r.n;
    }
    const total = (await this.pool.query<{ n: number }>(this.sql.total)).rows[0]?.n ?? 0;
    return { chunks: total, df };
  }

  async getChunks(ids: readonly string[]): Promise<KbChunkRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<ChunkRow>(this.sql.chunks, [[...ids]]);
    return inOrder(ids, rows.map(toChunkRecord));
  }

  async vectors(model: string): Promise<KbVector[]> {
    const { rows } = await this.pool.query<{ chunk_id: string; v: Buffer }>(this.sql.vectors, [model]);
    return rows.map((r) => ({ chunkId: r.chunk_id, vector: bytesVector(r.v) }));
  }

  async chunksWithoutVector(model: string, limit: number): Promise<KbChunkToEmbed[]> {
    const n = boundLimit(limit);
    if (n === 0) return [];
    return (await this.pool.query<ChunkToEmbedRow>(this.sql.unembedded, [model, n])).rows.map(toChunkToEmbed);
  }

  async putVectors(model: string, vectors: readonly KbVector[]): Promise<void> {
    if (vectors.length === 0) return;
    const distinct = distinctVectors(vectors);
    await transaction(this.pool, async (client) => {
      await client.query(this.sql.lock);
      await client.query(this.sql.putVectors, [model, distinct.map((v) => v.chunkId), distinct.map((v) => v.vector.length), distinct.map((v) => vectorBytes(v.vector))]);
      await client.query(this.sql.bump);
    });
  }

  async generation(): Promise<number> {
    return Number((await this.pool.query<{ generation: number }>(this.sql.generation)).rows[0]?.generation ?? 0);
  }

  async logUnanswered(entry: KbUnansweredEntry): Promise<void> {
    const params = [unansweredId(entry.query), entry.query, entry.conversationId, entry.channel, entry.topChunkId, entry.score, this.host.now()];
    await retrying(() => this.pool.query(this.sql.logUnanswered, params));
  }

  async listUnanswered(options: { limit: number; offset?: number }): Promise<KbUnansweredRecord[]> {
    const limit = boundLimit(options.limit);
    if (limit === 0) return [];
    const offset = boundLimit(options.offset ?? 0, Number.MAX_SAFE_INTEGER);
    return (await this.pool.query<UnansweredRow>(this.sql.listUnanswered, [limit, offset])).rows.map(toUnanswered);
  }

  async purgeUnanswered(olderThanMs: number): Promise<number> {
    const result = await retrying(() => this.pool.query(this.sql.purgeUnanswered, [this.host.now() - olderThanMs]));
    return result.rowCount ?? 0;
  }
}
