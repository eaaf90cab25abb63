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
import { fts5Query } from '../core/memory.js';
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
import type { SqliteMemoryHost } from './memory.js';

/** What the knowledge tables need from the SQLite queue that owns the file: the same as memory's. */
export type SqliteKnowledgeHost = SqliteMemoryHost;

const CHUNK = `c.id, c.source_id, s.uri AS source_uri, s.title AS source_title, c.ordinal, c.kind, c.heading_path, c.questions, c.text, c.line_start, c.line_end, c.page, c.tokens, c.hash`;
const BM25 = `bm25(kb_fts, ${HEAD_WEIGHT.toFixed(4)}, 1.0)`;
const IDS = 'SELECT value FROM json_each(@ids)';

/** A chunk's columns as statement parameters. */
function chunkParams(id: string, sourceId: string, c: KbIndexedChunk) {
  return {
    id,
    sourceId,
    ordinal: c.ordinal,
    kind: c.kind,
    headingPath: JSON.stringify(c.headingPath),
    questions: JSON.stringify(c.questions),
    text: c.text,
    lineStart: c.lineStart,
    lineEnd: c.lineEnd,
    page: c.page,
    tokens: c.tokens,
    hash: c.hash,
    head: lexWords(c.lexHead).join(' '),
    body: lexWords(c.lexBody).join(' '),
  };
}

/**
 * The knowledge base in the SQLite file: chunks in a plain table, their words in an FTS5
 * table (BM25, the heading-and-questions column weighted above the body) whose rowid is the
 * chunk's seq, kept in step in the same transactions. One process owns the file, so a
 * replacement needs no lock beyond its transaction.
 */
export class SqliteKnowledge implements KnowledgeStore {
  private readonly stmt;

  constructor(private readonly host: SqliteKnowledgeHost) {
    const db = host.db;
    this.stmt = {
      sourceById: db.prepare<{ id: string }, SourceRow>('SELECT * FROM kb_sources WHERE id = @id'),
      sourceByUri: db.prepare<{ uri: string }, SourceRow>('SELECT * FROM kb_sources WHERE uri = @uri'),
      sources: db.prepare<[], SourceRow>('SELECT * FROM kb_sources ORDER BY uri'),
      upsertIndexed: db.prepare<Record<string, unknown>, SourceRow>(`
        INSERT INTO kb_sources (id, uri, title, format, sha256, bytes, status, error, chunks, created_at, updated_at, indexed_at)
        VALUES (@id, @uri, @title, @format, @sha256, @bytes, 'indexed', NULL, 0, @now, @now, @now)
        ON CONFLICT (uri) DO UPDATE SET title = excluded.title, format = excluded.format, sha256 = excluded.sha256, bytes = excluded.bytes,
          status = 'indexed', error = NULL, updated_at = excluded.updated_at, indexed_at = excluded.indexed_at
        RETURNING *`),
      upsertFailed: db.prepare<Record<string, unknown>, SourceRow>(`
        INSERT INTO kb_sources (id, uri, title, format, sha256, bytes, status, error, chunks, created_at, updated_at, indexed_at)
        VALUES (@id, @uri, COALESCE(@title, @uri), NULL, @sha256, COALESCE(@bytes, 0), 'error', @error, 0, @now, @now, NULL)
        ON CONFLICT (uri) DO UPDATE SET title = COALESCE(@title, kb_sources.title), sha256 = excluded.sha256, bytes = COALESCE(@bytes, kb_sources.bytes),
          status = 'error', error = excluded.error, updated_at = excluded.updated_at
        RETURNING *`),
      setCount: db.prepare<{ id: string; n: number }, SourceRow>('UPDATE kb_sources SET chunks = @n WHERE id = @id RETURNING *'),
      existing: db.prepare<{ sourceId: string }, { id: string; seq: number; hash: string }>('SELECT id, seq, hash FROM kb_chunks WHERE source_id = @sourceId ORDER BY ordinal, seq'),
      insertChunk: db.prepare(`
        INSERT INTO kb_chunks (id, source_id, ordinal, kind, heading_path, questions, text, line_start, line_end, page, tokens, hash)
        VALUES (@id, @sourceId, @ordinal, @kind, @headingPath, @questions, @text, @lineStart, @lineEnd, @page, @tokens, @hash)`),
      updateChunk: db.prepare<Record<string, unknown>, { seq: number }>(`
        UPDATE kb_chunks SET ordinal = @ordinal, kind = @kind, heading_path = @headingPath, questions = @questions, text = @text,
          line_start = @lineStart, line_end = @lineEnd, page = @page, tokens = @tokens, hash = @hash
        WHERE id = @id RETURNING seq`),
      insertWords: db.prepare('INSERT INTO kb_fts (rowid, head, body) VALUES (@seq, @head, @body)'),
      updateWords: db.prepare('UPDATE kb_fts SET head = @head, body = @body WHERE rowid = @seq'),
      deleteWords: db.prepare('DELETE FROM kb_fts WHERE rowid = @seq'),
      deleteChunk: db.prepare('DELETE FROM kb_chunks WHERE seq = @seq'),
      deleteChunkVectors: db.prepare('DELETE FROM kb_vectors WHERE chunk_id = @id'),
      deleteSourceVectors: db.prepare('DELETE FROM kb_vectors WHERE chunk_id IN (SELECT id FROM kb_chunks WHERE source_id = @id)'),
      deleteSourceWords: db.prepare('DELETE FROM kb_fts WHERE rowid IN (SELECT seq FROM kb_chunks WHERE source_id = @id)'),
      deleteSourceChunks: db.prepare('DELETE FROM kb_chunks WHERE source_id = @id'),
      deleteSource: db.prepare('DELETE FROM kb_sources WHERE id = @id'),
      search: db.prepare<{ q: string; limit: number }, { chunk_id: string; score: number }>(`
        SELECT c.id AS chunk_id, -${BM25} AS score FROM kb_fts JOIN kb_chunks c ON c.seq = kb_fts.rowid
        WHERE kb_fts MATCH @q ORDER BY ${BM25}, c.seq LIMIT @limit`),
      df: db.prepare<{ q: string }, { n: number }>('SELECT count(*) AS n FROM kb_fts WHERE kb_fts MATCH @q'),
      total: db.prepare<[], { n: number }>('SELECT COALESCE(sum(chunks), 0) AS n FROM kb_sources'),
      chunks: db.prepare<{ ids: string }, ChunkRow>(`SELECT ${CHUNK} FROM kb_chunks c JOIN kb_sources s ON s.id = c.source_id WHERE c.id IN (${IDS})`),
      vectors: db.prepare<{ model: string }, { chunk_id: string; v: Buffer }>('SELECT chunk_id, v FROM kb_vectors WHERE model = @model'),
      unembedded: db.prepare<{ model: string; limit: number }, ChunkToEmbedRow>(`
        SELECT c.id, c.text, c.heading_path, c.questions FROM kb_chunks c
        LEFT JOIN kb_vectors v ON v.model = @model AND v.chunk_id = c.id
        WHERE v.chunk_id IS NULL ORDER BY c.seq LIMIT @limit`),
      putVector: db.prepare(`
        INSERT INTO kb_vectors (model, chunk_id, dims, v) SELECT @model, @id, @dims, @v WHERE EXISTS (SELECT 1 FROM kb_chunks WHERE id = @id)
        ON CONFLICT (model, chunk_id) DO UPDATE SET dims = excluded.dims, v = excluded.v`),
      bump: db.prepare('UPDATE kb_state SET generation = generation + 1 WHERE id = 1'),
      generation: db.prepare<[], { generation: number }>('SELECT generation FROM kb_state WHERE id = 1'),
      logUnanswered: db.prepare(`
        INSERT INTO kb_unanswered (id, query, conversation_id, channel, top_chunk_id, score, at, count)
        VALUES (@id, @query, @conversationId, @channel, @topChunkId, @score, @at, 1)
        ON CONFLICT (id) DO UPDATE SET query = excluded.query, conversation_id = excluded.conversation_id, channel = excluded.channel,
          top_chunk_id = excluded.top_chunk_id, score = excluded.score, at = excluded.at, count = kb_unanswered.count + 1`),
      listUnanswered: db.prepare<{ limit: number; offset: number }, UnansweredRow>('SELECT * FROM kb_unanswered ORDER BY at DESC, id LIMIT @limit OFFSET @offset'),
      purgeUnanswered: db.prepare('DELETE FROM kb_unanswered WHERE at < @cutoff'),
    };
  }

  async replaceSource(source: KbSourceInput, chunks: readonly KbIndexedChunk[]): Promise<KbReplaceResult> {
    this.host.assertWritable();
    const result = this.host.write(() => {
      const now = this.host.now();
      const row = this.stmt.upsertIndexed.get({ id: newSourceId(), uri: source.uri, title: source.title, format: source.format, sha256: source.sha256, bytes: source.bytes, now })!;
      const existing = this.stmt.existing.all({ sourceId: row.id });
      const seqOf = new Map(existing.map((e) => [e.id, e.seq]));
      const plan = planReplace(existing, chunks);
      for (const id of plan.remove) {
        const seq = seqOf.get(id)!;
        this.stmt.deleteChunkVectors.run({ id });
        this.stmt.deleteWords.run({ seq });
        this.stmt.deleteChunk.run({ seq });
      }
      for (const { id, chunk } of plan.keep) {
        const p = chunkParams(id, row.id, chunk);
        const { seq } = this.stmt.updateChunk.get(p)!;
        this.stmt.updateWords.run({ seq, head: p.head, body: p.body });
      }
      for (const { id, chunk } of plan.add) {
        const p = chunkParams(id, row.id, chunk);
        const seq = this.stmt.insertChunk.run(p).lastInsertRowid;
        this.stmt.insertWords.run({ seq, head: p.head, body: p.body });
      }
      this.stmt.bump.run();
      const updated = this.stmt.setCount.get({ id: row.id, n: chunks.length })!;
      return { source: toSource(updated), added: plan.add.length, kept: plan.keep.length, removed: plan.remove.length };
    });
    await this.host.synced();
    return result;
  }

  async failSource(source: KbFailureInput, error: string): Promise<KbSourceRecord> {
    this.host.assertWritable();
    const params = { id: newSourceId(), uri: source.uri, title: source.title ?? null, sha256: source.sha256 ?? null, bytes: source.bytes ?? null, error, now: this.host.now() };
    const row = this.host.write(() => this.stmt.upsertFailed.get(params)!);
    await this.host.synced();
    return toSource(row);
  }

  async deleteSource(id: string): Promise<boolean> {
    this.host.assertWritable();
    const deleted = this.host.write(() => {
      this.stmt.deleteSourceVectors.run({ id });
      this.stmt.deleteSourceWords.run({ id });
      this.stmt.deleteSourceChunks.run({ id });
      const n = this.stmt.deleteSource.run({ id }).changes;
      if (n > 0) this.stmt.bump.run();
      return n > 0;
    });
    if (deleted) await this.host.synced();
    return deleted;
  }

  async getSource(idOrUri: string): Promise<KbSourceRecord | undefined> {
    this.host.assertOpen();
    const row = this.stmt.sourceById.get({ id: idOrUri }) ?? this.stmt.sourceByUri.get({ uri: idOrUri });
    return row && toSource(row);
  }

  async listSources(): Promise<KbSourceRecord[]> {
    this.host.assertOpen();
    return this.stmt.sources.all().map(toSource);
  }

  async searchLexical(terms: readonly string[], limit: number): Promise<KbLexicalHit[]> {
    this.host.assertOpen();
    const q = queryTerms(terms);
    const n = boundLimit(limit);
    if (q.length === 0 || n === 0) return [];
    return this.stmt.search.all({ q: fts5Query(q), limit: n }).map((r) => ({ chunkId: r.chunk_id, score: r.score }));
  }

  async termStats(terms: readonly string[]): Promise<{ chunks: number; df: Record<string, number> }> {
    this.host.assertOpen();
    const df: Record<string, number> = {};
    for (const term of queryTerms(terms)) df[term] = this.stmt.df.get({ q: fts5Query([term]) })?.n ?? 0;
    return { chunks: this.stmt.total.get()?.n ?? 0, df };
  }

  async getChunks(ids: readonly string[]): Promise<KbChunkRecord[]> {
    this.host.assertOpen();
    if (ids.length === 0) return [];
    return inOrder(ids, this.stmt.chunks.all({ ids: JSON.stringify(ids) }).map(toChunkRecord));
  }

  async vectors(model: string): Promise<KbVector[]> {
    this.host.assertOpen();
    return this.stmt.vectors.all({ model }).map((r) => ({ chunkId: r.chunk_id, vector: bytesVector(r.v) }));
  }

  async chunksWithoutVector(model: string, limit: number): Promise<KbChunkToEmbed[]> {
    this.host.assertOpen();
    const n = boundLimit(limit);
    return n === 0 ? [] : this.stmt.unembedded.all({ model, limit: n }).map(toChunkToEmbed);
  }

  async putVectors(model: string, vectors: readonly KbVector[]): Promise<void> {
    this.host.assertWritable();
    if (vectors.length === 0) return;
    this.host.write(() => {
      for (const v of distinctVectors(vectors)) this.stmt.putVector.run({ model, id: v.chunkId, dims: v.vector.length, v: vectorBytes(v.vector) });
      this.stmt.bump.run();
    });
    await this.host.synced();
  }

  async generation(): Promise<number> {
    this.host.assertOpen();
    return this.stmt.generation.get()?.generation ?? 0;
  }

  async logUnanswered(entry: KbUnansweredEntry): Promise<void> {
    this.host.assertWritable();
    this.host.write(() => this.stmt.logUnanswered.run({ id: unansweredId(entry.query), ...entry, at: this.host.now() }));
    await this.host.synced();
  }

  async listUnanswered(options: { limit: number; offset?: number }): Promise<KbUnansweredRecord[]> {
    this.host.assertOpen();
    const limit = boundLimit(options.limit);
    if (limit === 0) return [];
    return this.stmt.listUnanswered.all({ limit, offset: boundLimit(options.offset ?? 0, Number.MAX_SAFE_INTEGER) }).map(toUnanswered);
  }

  async purgeUnanswered(olderThanMs: number): Promise<number> {
    this.host.assertWritable();
    const n = this.host.write(() => this.stmt.purgeUnanswered.run({ cutoff: this.host.now() - olderThanMs }).changes);
    if (n > 0) await this.host.synced();
    return n;
  }
}
