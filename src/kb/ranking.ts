/**
 * The arithmetic of knowledge-base retrieval, kept pure so it is tested alone: reciprocal rank
 * fusion of the lexical and vector rankings, the IDF-weighted coverage that decides whether a
 * hit answers the question at all, and near-duplicate removal.
 *
 * Why rank fusion: the two backends' lexical scores differ (FTS5's BM25, PostgreSQL's
 * ts_rank_cd) and neither is on the cosine's scale; ranks are comparable everywhere, so the
 * same weights hold on both (design note §3.3; k = 60 as OpenSearch, LanceDB and others use).
 */

/** RRF's damping constant. */
export const RRF_K = 60;

export interface Ranking {
  /** Best first. */
  ids: readonly string[];
  weight: number;
}

/** Σ weight / (k + rank) over the rankings an id appears in (rank from 1), best first. */
export function fuseRankings(rankings: readonly Ranking[], k = RRF_K): Array<{ id: string; score: number }> {
  const scores = new Map<string, number>();
  for (const { ids, weight } of rankings) {
    if (weight <= 0) continue;
    ids.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + weight / (k + i + 1)));
  }
  return [...scores.entries()].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}

/** A term's inverse document frequency, smoothed so a term in every chunk still counts a little. */
export function idf(df: number, chunks: number): number {
  return Math.log(1 + (chunks - df + 0.5) / (df + 0.5));
}

/**
 * How much of the question a passage covers: the IDF-weighted share of the query's terms that
 * occur in it. Rare words weigh most, so "how do I reset my password" is covered by a passage
 * with "reset" and "password", not by one that only shares "how" and "my". Terms no chunk has
 * count fully against: the knowledge base knows nothing of them.
 */
export function coverage(terms: readonly string[], passage: ReadonlySet<string>, df: Readonly<Record<string, number>>, chunks: number): number {
  let total = 0;
  let found = 0;
  for (const term of new Set(terms)) {
    const weight = idf(df[term] ?? 0, Math.max(chunks, 1));
    total += weight;
    if (passage.has(term)) found += weight;
  }
  return total === 0 ? 0 : found / total;
}

/** Jaccard similarity of two word sets. */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let shared = 0;
  for (const word of a) if (b.has(word)) shared++;
  return shared / (a.size + b.size - shared);
}

/**
 * Drops hits that repeat a better one: the same text (hash), or words overlapping it by at
 * least `threshold` (the same FAQ answer filed twice, a page copied into two documents).
 */
export function withoutNearDuplicates<T extends { hash: string; words: ReadonlySet<string> }>(hits: readonly T[], threshold = 0.9): T[] {
  const kept: T[] = [];
  for (const hit of hits) {
    if (kept.some((k) => k.hash === hit.hash || jaccard(k.words, hit.words) >= threshold)) continue;
    kept.push(hit);
  }
  return kept;
}

/** Cosine similarity of two vectors of one length (0 for a zero vector). */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
