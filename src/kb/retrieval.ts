/**
 * Knowledge-base retrieval: the query's words (Pincer's own tokenizer, the one the index was
 * built with), the store's lexical ranking, an exact vector scan with the knowledge base's
 * embedding model, both fused by rank, near-duplicates dropped, and the best hit's coverage of
 * the question as the confidence that decides whether to answer at all.
 */
import type { EmbeddingModel } from '../models/types.js';
import { contentTerms } from '../text/stopwords.js';
import { distinctTokens } from '../text/tokens.js';
import { coverage, cosine, fuseRankings, withoutNearDuplicates } from './ranking.js';
import type { KbChunk } from './types.js';
import { kbWords, stem } from './words.js';

/** Candidates each ranking contributes before fusion. */
const CANDIDATES = 50;
/** Query terms looked at; a pasted page is not a question. */
const MAX_QUERY_TERMS = 32;

/** What retrieval needs of the store's knowledge role. */
export interface RetrievalIndex {
  searchLexical(terms: readonly string[], limit: number): Promise<Array<{ chunkId: string; score: number }>>;
  termStats(terms: readonly string[]): Promise<{ chunks: number; df: Record<string, number> }>;
  getChunks(ids: readonly string[]): Promise<Array<KbChunk & { id: string; sourceId: string; sourceUri: string; sourceTitle: string }>>;
  vectors(model: string): Promise<Array<{ chunkId: string; vector: Float32Array }>>;
  generation(): Promise<number>;
}

export interface KbEmbedder {
  /** Names the vectors in the store: a change of model is a change of index. */
  readonly key: string;
  model: EmbeddingModel;
  /** The vector leg's weight in fusion: low for the built-in hashed embedding (lexical, no synonyms). */
  weight: number;
}

export interface KbHit {
  chunkId: string;
  sourceId: string;
  source: string;
  title: string;
  kind: KbChunk['kind'];
  headingPath: string[];
  questions: string[];
  text: string;
  lineStart: number | null;
  lineEnd: number | null;
  page: number | null;
  /** The fused score (relative within one search). */
  score: number;
  /** Its place in each ranking (1 = first), when it was in it. */
  lexicalRank: number | null;
  vectorRank: number | null;
  /** The IDF-weighted share of the query's words the passage has (0..1). */
  coverage: number;
}

export interface KbSearchResult {
  terms: string[];
  hits: KbHit[];
  /** The best hit's coverage, 0 without hits. */
  confidence: number;
}

/** The words a chunk is found by: its headings, questions and text. */
export function chunkWords(chunk: Pick<KbChunk, 'headingPath' | 'questions' | 'text'>): string[] {
  return kbWords([...chunk.headingPath, ...chunk.questions, chunk.text].join('\n'));
}

/** The text a chunk's vector is made from. */
export function embeddingText(chunk: Pick<KbChunk, 'headingPath' | 'questions' | 'text'>): string {
  return [chunk.headingPath.join(' › '), ...chunk.questions, chunk.text].filter((s) => s !== '').join('\n');
}

export class KbRetriever {
  private matrix: { generation: number; ids: string[]; vectors: Float32Array[] } | undefined;

  constructor(
    private readonly index: RetrievalIndex,
    private readonly embedder: KbEmbedder | undefined,
  ) {}

  async search(query: string, k: number, signal?: AbortSignal): Promise<KbSearchResult> {
    const terms = [...new Set(contentTerms(distinctTokens(query, MAX_QUERY_TERMS)).map(stem))];
    if (terms.length === 0) return { terms, hits: [], confidence: 0 };
    const [lexical, vector, stats] = await Promise.all([this.index.searchLexical(terms, CANDIDATES), this.vectorRanking(query, signal), this.index.termStats(terms)]);
    const rankings = [{ ids: lexical.map((h) => h.chunkId), weight: 1 }, ...(vector && this.embedder ? [{ ids: vector, weight: this.embedder.weight }] : [])];
    const fused = fuseRankings(rankings);
    // Enough candidates that duplicates dropped still leave k.
    const top = fused.slice(0, Math.max(k * 3, 10));
    const chunks = new Map((await this.index.getChunks(top.map((f) => f.id))).map((c) => [c.id, c]));
    const lexicalRank = new Map(lexical.map((h, i) => [h.chunkId, i + 1]));
    const vectorRank = new Map((vector ?? []).map((id, i) => [id, i + 1]));
    const candidates = top.flatMap(({ id, score }) => {
      const chunk = chunks.get(id);
      if (!chunk) return [];
      const words = new Set(chunkWords(chunk));
      const hit: KbHit = {
        chunkId: id,
        sourceId: chunk.sourceId,
        source: chunk.sourceUri,
        title: chunk.sourceTitle,
        kind: chunk.kind,
        headingPath: chunk.headingPath,
        questions: chunk.questions,
        text: chunk.text,
        lineStart: chunk.lineStart,
        lineEnd: chunk.lineEnd,
        page: chunk.page,
        score,
        lexicalRank: lexicalRank.get(id) ?? null,
        vectorRank: vectorRank.get(id) ?? null,
        coverage: coverage(terms, words, stats.df, stats.chunks),
      };
      return [{ hit, hash: chunk.hash, words }];
    });
    const hits = withoutNearDuplicates(candidates)
      .slice(0, k)
      .map((c) => c.hit);
    return { terms, hits, confidence: hits[0]?.coverage ?? 0 };
  }

  /** Chunk ids by cosine to the query, best first; undefined without an embedder or vectors. */
  private async vectorRanking(query: string, signal?: AbortSignal): Promise<string[] | undefined> {
    if (!this.embedder) return undefined;
    const matrix = await this.loadMatrix();
    if (matrix.ids.length === 0) return undefined;
    const [embedded] = (await this.embedder.model.doEmbed({ values: [query], ...(signal && { signal }) })).embeddings;
    if (!embedded) return undefined;
    const q = Float32Array.from(embedded);
    const scored: Array<{ id: string; s: number }> = [];
    for (let i = 0; i < matrix.ids.length; i++) {
      const s = cosine(q, matrix.vectors[i] as Float32Array);
      if (s > 0) scored.push({ id: matrix.ids[i] as string, s });
    }
    scored.sort((a, b) => b.s - a.s);
    return scored.slice(0, CANDIDATES).map((x) => x.id);
  }

  /** Every vector of the knowledge base's model, read again only when the store's generation moved (any node's change). */
  private async loadMatrix(): Promise<{ ids: string[]; vectors: Float32Array[] }> {
    const generation = await this.index.generation();
    if (this.matrix?.generation === generation) return this.matrix;
    const rows = await this.index.vectors(this.embedder!.key);
    this.matrix = { generation, ids: rows.map((r) => r.chunkId), vectors: rows.map((r) => r.vector) };
    return this.matrix;
  }
}
