import { describe, expect, it } from 'vitest';
import { factsNamed, factText, pinnedFacts, senderKey } from '../../src/memory/facts.js';
import type { MemoryFact } from '../../src/store/types.js';

const fact = (id: string, text: string, createdAt: number): MemoryFact => ({ id, text, createdAt, channel: 'telegram', senderId: 'telegram:1' });

describe('facts', () => {
  it('are keyed by the stored channel and sender, never text; no sender is a coded error', () => {
    expect(senderKey({ channel: 'telegram', sender: 'telegram:1' })).toEqual({ channel: 'telegram', senderId: 'telegram:1' });
    expect(() => senderKey({ channel: 'api', sender: null })).toThrow(expect.objectContaining({ code: 'MEMORY_NO_SENDER' }));
  });

  it('are trimmed, and empty or too long ones are refused with a code', () => {
    expect(factText('  likes\n  tea ', 20)).toBe('likes tea');
    expect(() => factText('   ', 20)).toThrow(expect.objectContaining({ code: 'MEMORY_FACT_INVALID' }));
    expect(() => factText('x'.repeat(21), 20)).toThrow(expect.objectContaining({ code: 'MEMORY_FACT_INVALID' }));
  });

  it('are named for forgetting by all, by id or by words they contain', () => {
    const facts = [fact('f_1', 'Likes green tea', 1), fact('f_2', 'lives in Oslo', 2)];
    expect(factsNamed(facts, 'ALL')).toBe('all');
    expect(factsNamed(facts, 'f_2')).toEqual(['f_2']);
    expect(factsNamed(facts, 'tea')).toEqual(['f_1']);
    expect(factsNamed(facts, 'coffee')).toEqual([]);
    expect(factsNamed(facts, '  ')).toEqual([]);
  });

  it('are pinned most relevant first, then newest, within the token budget', () => {
    const facts = [fact('a', 'has a dog named Rex', 3), fact('b', 'likes green tea', 2), fact('c', 'lives in Oslo', 1)];
    expect(pinnedFacts(facts, 'what tea should I buy?', 100).map((f) => f.id)).toEqual(['b', 'a', 'c']);
    expect(pinnedFacts(facts, 'hello', 100).map((f) => f.id)).toEqual(['a', 'b', 'c']);
    // 'has a dog named Rex' costs 8 (5 words × 4/3, +1), the others 5 each.
    expect(pinnedFacts(facts, 'hello', 10).map((f) => f.id)).toEqual(['a']);
    // One that does not fit is skipped; a smaller one after it still may.
    expect(pinnedFacts(facts, 'hello', 7).map((f) => f.id)).toEqual(['b']);
    expect(pinnedFacts(facts, 'hello', 0)).toEqual([]);
  });
});
