/**
 * The knowledge base's store role (issue 15): sources, their chunks, a lexical index over the
 * chunks' words, embedding vectors per model, and the log of questions it could not answer.
 * Both backends implement it (src/store/sqlite/knowledge.ts, src/store/postgres/knowledge.ts)
 * with the policy shared in src/store/core/knowledge.ts, and pass
 * test/store/knowledge-conformance.ts. Parsing, chunking, tokenising, embedding and ranking
 * fusion happen above it (src/kb/); the store validates nothing the service does.
 */
import type { KbChunk, KbFormat } from '../kb/types.js';

export interface KbSourceRecord {
  /** `ks_<random>`, kept for as long as the source's uri is known. */
  id: string;
  uri: string;
  title: string;
  /** Null for a source that never parsed. */
  format: KbFormat | null;
  /**
   * Of the content last tried (indexed or failed): a broken file that did not change is not
   * parsed again. Null when the failure happened before the content could be read.
   */
  sha256: string | null;
  bytes: number;
  status: 'indexed' | 'error';
  error: string | null;
  /** How many chunks it has in the index now (a failed source keeps those of its last good version). */
  chunks: number;
  createdAt: number;
  updatedAt: number;
  /** When its chunks were last replaced; null if they never were. */
  indexedAt: number | null;
}

export interface KbChunkRecord extends KbChunk {
  /** `kc_<random>`: stable across re-ingestion while the chunk's hash is unchanged. */
  id: string;
  sourceId: string;
  sourceUri: string;
  sourceTitle: string;
}

/**
 * A chunk with the words the lexical index sees, space-joined, as src/text/tokens.ts (and any
 * stemming the service applies) made them: queries must go through the same function. Two
 * fields, because the index weighs a match in a heading or a question above one in the body.
 */
export interface KbIndexedChunk extends KbChunk {
  /** The words of `headingPath` and `questions`. */
  lexHead: string;
  /** The words of `text`. */
  lexBody: string;
}

export interface KbSourceInput {
  uri: string;
  title: string;
  format: KbFormat;
  sha256: string;
  bytes: number;
}

export interface KbFailureInput {
  uri: string;
  /** Default: the source's title so far, else its uri. */
  title?: string;
  sha256?: string | null;
  bytes?: number;
}

export interface KbReplaceResult {
  source: KbSourceRecord;
  added: number;
  kept: number;
  removed: number;
}

export interface KbLexicalHit {
  chunkId: string;
  /** Higher is better; comparable within one search only (BM25 in SQLite, ts_rank_cd in PostgreSQL). */
  score: number;
}

export interface KbVector {
  chunkId: string;
  vector: Float32Array;
}

export interface KbChunkToEmbed {
  chunkId: string;
  text: string;
  headingPath: string[];
  questions: string[];
}

export interface KbUnansweredEntry {
  query: string;
  conversationId: string | null;
  channel: string | null;
  topChunkId: string | null;
  score: number | null;
}

/** A question asked (once or more, its words the same) that the knowledge base could not answer. */
export interface KbUnansweredRecord extends KbUnansweredEntry {
  /** `ku_` and a hash of the question's words: the same question asked again is the same record. */
  id: string;
  /** When it was last asked; the other fields are those of that time. */
  at: number;
  /** How many times it was asked since the record was made (a purge past retention starts it again). */
  count: number;
}

export interface KnowledgeStore {
  /**
   * Make `chunks` the source's chunks, in one transaction: a chunk whose hash the source had
   * keeps its id and its vectors (duplicates of one hash are matched one for one, in order);
   * the others get new ids; chunks of the source no longer present are removed with their
   * index entries and vectors. Creates the source if its uri is new. Status becomes
   * `indexed`, error null. Every chunk's words are written again (a tokenizer change reaches
   * the index by re-ingestion). Bumps the generation.
   */
  replaceSource(source: KbSourceInput, chunks: readonly KbIndexedChunk[]): Promise<KbReplaceResult>;
  /**
   * Record that a source could not be ingested: status `error` with the message. Its chunks
   * (those of its last good version, if any) stay searchable: a broken edit does not make
   * the bot forget a document. Creates the source, with no chunks, if its uri is new. Does not
   * bump the generation (no chunk changes).
   */
  failSource(source: KbFailureInput, error: string): Promise<KbSourceRecord>;
  /** Delete a source (by id) with its chunks, their index entries and vectors. False if unknown. */
  deleteSource(id: string): Promise<boolean>;
  /** By id, else by uri. */
  getSource(idOrUri: string): Promise<KbSourceRecord | undefined>;
  /** Every source, by uri. */
  listSources(): Promise<KbSourceRecord[]>;

  /**
   * The chunks matching any of `terms`, best first: BM25 in FTS5 (the heading and questions
   * column weighted above the body), ts_rank_cd in PostgreSQL (heading and questions weight
   * A, body D). Each term is quoted, so nothing is read as query syntax. Terms must come from
   * the tokenizer the chunks' words came from (PostgreSQL compares them as they are); empty
   * ones are ignored, and only the first 32 distinct ones count. No terms: none. `limit` is
   * bounded to 0..1000.
   */
  searchLexical(terms: readonly string[], limit: number): Promise<KbLexicalHit[]>;
  /** How many chunks exist, and in how many each term occurs (the coverage gate's IDF): the first 32 distinct non-empty terms. */
  termStats(terms: readonly string[]): Promise<{ chunks: number; df: Record<string, number> }>;
  /** The chunks with those ids, in the order asked; unknown ids are left out. */
  getChunks(ids: readonly string[]): Promise<KbChunkRecord[]>;

  /** Every vector of an embedding model (the service scans them in process, cached by generation). */
  vectors(model: string): Promise<KbVector[]>;
  /** Up to `limit` chunks with no vector of the model yet, oldest first. */
  chunksWithoutVector(model: string, limit: number): Promise<KbChunkToEmbed[]>;
  /** Store (or replace) vectors of a model; those of chunks deleted meanwhile are dropped. Bumps the generation. */
  putVectors(model: string, vectors: readonly KbVector[]): Promise<void>;
  /** Increases on every change of chunks or vectors, on every node (cache invalidation). */
  generation(): Promise<number>;

  /** Note a question the knowledge base could not answer (the same words again add to its count). */
  logUnanswered(entry: KbUnansweredEntry): Promise<void>;
  /** The unanswered questions, last asked first. */
  listUnanswered(options: { limit: number; offset?: number }): Promise<KbUnansweredRecord[]>;
  /** Retention: delete those last asked more than `olderThanMs` ago. Returns how many. */
  purgeUnanswered(olderThanMs: number): Promise<number>;
}
