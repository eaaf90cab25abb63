import { describe, expect, it } from 'vitest';
import { cosine, coverage, fuseRankings, idf, jaccard, withoutNearDuplicates } from '../../src/kb/ranking.js';

describe('knowledge ranking', () => {
  it('fuses rankings by reciprocal rank with weights, best first', () => {
    const fused = fuseRankings([
      { ids: ['a', 'b', 'c'], weight: 1 },
      { ids: ['c', 'b'], weight: 0.25 },
    ]);
    // b and c are in both rankings: second and third lexically beat a first lexical rank alone.
    expect(fused.map((f) => f.id)).toEqual(['b', 'c', 'a']);
    expect(fused[0]!.score).toBeCloseTo(1 / 62 + 0.25 / 62, 6);
    expect(fused[1]!.score).toBeCloseTo(1 / 63 + 0.25 / 61, 6);
    expect(fused[2]!.score).toBeCloseTo(1 / 61, 6);
    // A heavier second ranking can overturn the first.
    expect(fuseRankings([{ ids: ['a', 'b'], weight: 1 }, { ids: ['b'], weight: 1 }])[0]!.id).toBe('b');
    expect(fuseRankings([{ ids: ['a'], weight: 0 }])).toEqual([]);
  });

  it('weighs coverage by how rare each word is, so common words alone do not answer', () => {
    const df = { how: 90, do: 95, i: 99, reset: 3, password: 2 };
    const terms = ['how', 'do', 'i', 'reset', 'password'];
    const onlyCommon = coverage(terms, new Set(['how', 'do', 'i']), df, 100);
    const rare = coverage(terms, new Set(['reset', 'password']), df, 100);
    expect(onlyCommon).toBeLessThan(0.1);
    expect(rare).toBeGreaterThan(0.85);
    expect(coverage(terms, new Set(terms), df, 100)).toBeCloseTo(1);
    // A word no chunk has counts fully against the passage.
    expect(coverage(['password', 'zebra'], new Set(['password']), { password: 2 }, 100)).toBeLessThan(0.5);
    expect(coverage([], new Set(['x']), {}, 10)).toBe(0);
    expect(idf(0, 100)).toBeGreaterThan(idf(50, 100));
  });

  it('drops near-duplicates of a better hit, by hash or by word overlap', () => {
    const w = (s: string) => new Set(s.split(' '));
    const hits = [
      { id: 1, hash: 'h1', words: w('reset your password from the settings page now') },
      { id: 2, hash: 'h1', words: w('other words') },
      { id: 3, hash: 'h3', words: w('now reset your password from the settings page') },
      { id: 5, hash: 'h5', words: w('reset your password from the settings page now or later') },
      { id: 4, hash: 'h4', words: w('a different answer entirely') },
    ];
    // 5 shares 8 of 10 words with 1 (0.8): related, not a copy.
    expect(withoutNearDuplicates(hits).map((h) => h.id)).toEqual([1, 5, 4]);
    expect(jaccard(w('a b'), w('b c'))).toBeCloseTo(1 / 3);
  });

  it('computes the cosine of vectors, 0 for a zero vector', () => {
    expect(cosine(Float32Array.from([1, 0]), Float32Array.from([1, 0]))).toBeCloseTo(1);
    expect(cosine(Float32Array.from([1, 0]), Float32Array.from([0, 1]))).toBeCloseTo(0);
    expect(cosine(Float32Array.from([0, 0]), Float32Array.from([1, 1]))).toBe(0);
  });
});
