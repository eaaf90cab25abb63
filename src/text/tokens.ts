/**
 * Words of a text for full-text search, the same on every backend: Unicode word segmentation
 * (Intl.Segmenter, so Chinese and Japanese split into words rather than one run of
 * characters), NFKC-normalised and lower-cased. What is indexed and what is searched go
 * through this one function, so a query matches exactly what was stored. Agent memory uses
 * it for older turns and facts; the knowledge base reuses it.
 */

/** Longest word kept, in characters: longer "words" are noise (hashes, base64) and bloat the index. */
export const MAX_TOKEN_LENGTH = 64;

const segmenter = new Intl.Segmenter('und', { granularity: 'word' });

/** The words of `text`, in order (repeats kept), at most `max`. */
export function tokenize(text: string, max = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  if (max <= 0) return out;
  for (const part of segmenter.segment(text.normalize('NFKC').toLowerCase())) {
    if (!part.isWordLike) continue;
    const word = part.segment.trim();
    // A stored word list is space-separated, so a word never holds white space.
    if (word.length === 0 || word.length > MAX_TOKEN_LENGTH || /\s/.test(word)) continue;
    out.push(word);
    if (out.length >= max) break;
  }
  return out;
}

/** The distinct words of `text`, first occurrence first, at most `max` (a query's terms). */
export function distinctTokens(text: string, max = Number.POSITIVE_INFINITY): string[] {
  const seen = new Set<string>();
  for (const word of tokenize(text)) {
    seen.add(word);
    if (seen.size >= max) break;
  }
  return [...seen];
}
