import { features } from './text.js';

/**
 * The built-in embedding: feature hashing (the "hashing trick") of words, word pairs and
 * character trigrams into a fixed number of dimensions, with a sign hash so collisions cancel
 * rather than pile up, then L2-normalised so a dot product is the cosine similarity. It knows
 * no synonyms, but texts sharing words and spellings land close, which is what deduplication,
 * "similar messages" and a first retrieval step need, with no download and in microseconds.
 */

export const HASHED_EMBEDDING_DIMENSIONS = 256;

export function hashedEmbedding(text: string, dimensions = HASHED_EMBEDDING_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const add = (feature: string, weight: number) => {
    const hash = fnv1a(feature);
    const index = hash % dimensions;
    // The top bit is independent of the index bits for any dimension count below 2^31.
    vector[index] = (vector[index] ?? 0) + (hash & 0x8000_0000 ? -weight : weight);
  };
  const tokens = features(text);
  for (const token of tokens) add(`w:${token}`, 1);
  // Trigrams of each word, padded, so "translate" and "translation" share most of theirs.
  for (const token of tokens) {
    if (token.includes('_')) continue;
    const padded = ` ${token} `;
    for (let i = 0; i + 3 <= padded.length; i++) add(`c:${padded.slice(i, i + 3)}`, 0.5);
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector : vector.map((v) => v / norm);
}

/** 32-bit FNV-1a over UTF-16 code units: fast, stable across processes and versions. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
