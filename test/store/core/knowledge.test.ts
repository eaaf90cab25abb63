import { describe, expect, it } from 'vitest';
import { boundLimit, bytesVector, planReplace, queryTerms, unansweredId, vectorBytes } from '../../../src/store/core/knowledge.js';
import { kbChunk } from '../knowledge-conformance.js';

describe('knowledge store policy', () => {
  it('hands old ids to new chunks by hash, one for one and in order, and removes the rest', () => {
    const [a, b, c] = [kbChunk(0, 'a'), kbChunk(1, 'b'), kbChunk(2, 'c')];
    const existing = [
      { id: 'kc_a1', hash: a.hash },
      { id: 'kc_b', hash: b.hash },
      { id: 'kc_a2', hash: a.hash },
    ];
    const plan = planReplace(existing, [a, c, a, a]);
    expect(plan.keep.map((k) => [k.id, k.chunk.text])).toEqual([
      ['kc_a1', 'a'],
      ['kc_a2', 'a'],
    ]);
    expect(plan.add.map((x) => x.chunk.text)).toEqual(['c', 'a']);
    expect(new Set(plan.add.map((x) => x.id)).size).toBe(2);
    expect(plan.add.every((x) => /^kc_[0-9a-f]{20}$/.test(x.id))).toBe(true);
    expect(plan.remove).toEqual(['kc_b']);
    expect(planReplace(existing, [])).toEqual({ keep: [], add: [], remove: ['kc_a1', 'kc_a2', 'kc_b'] });
  });

  it('bounds limits and cleans query terms', () => {
    expect([boundLimit(5), boundLimit(0), boundLimit(-1), boundLimit(2.7), boundLimit(Number.NaN), boundLimit(Infinity), boundLimit(1e9)]).toEqual([5, 0, 0, 2, 0, 1000, 1000]);
    expect(queryTerms(['a', '', ' ', 'a', 'b'])).toEqual(['a', 'b']);
    expect(queryTerms(Array.from({ length: 40 }, (_, i) => `t${i}`))).toHaveLength(32);
  });

  it('stores vectors as Float32 little-endian bytes and reads them back from any offset', () => {
    const v = Float32Array.from([1, -0.5, 3.25]);
    const bytes = vectorBytes(v);
    expect([...bytes.subarray(0, 4)]).toEqual([0, 0, 0x80, 0x3f]); // 1.0f, little-endian
    const unaligned = Buffer.concat([Buffer.from([9]), bytes]).subarray(1);
    expect([...bytesVector(unaligned)]).toEqual([1, -0.5, 3.25]);
  });

  it('groups unanswered questions by their words', () => {
    expect(unansweredId('How do I reset?')).toBe(unansweredId('how do i RESET'));
    expect(unansweredId('How do I reset?')).not.toBe(unansweredId('How do I restart?'));
    expect(unansweredId('???')).toBe(unansweredId(' ??? '));
    expect(unansweredId('???')).not.toBe(unansweredId('!!!'));
  });
});
