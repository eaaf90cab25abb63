import { describe, expect, it } from 'vitest';
import { isRightHit, parseQuestions, report, tuneThreshold, type EvalSample } from '../../src/kb/eval.js';

const q = (over: Record<string, unknown>) => parseQuestions([{ question: 'q', ...over }], 'test')[0]!;

describe('knowledge-base evaluation', () => {
  it('matches a hit by the source path and the section heading or FAQ question', () => {
    const question = q({ source: 'guides/security.md', heading: 'Two-factor  authentication' });
    const hit = { source: 'kb:guides/security.md', headingPath: ['Security', 'Two-factor authentication'], questions: [], kind: 'section' as const };
    expect(isRightHit(hit, question)).toBe(true);
    expect(isRightHit({ ...hit, headingPath: ['Security'] }, question)).toBe(false);
    expect(isRightHit({ ...hit, source: 'kb:other/security.md' }, question)).toBe(false);
    expect(isRightHit({ source: 'kb:faq.yaml', headingPath: [], questions: ['Can I work offline?'], kind: 'faq' }, q({ source: 'faq.yaml', heading: 'can i work offline?' }))).toBe(true);
    expect(() => parseQuestions([{ question: 'no source' }], 'set.yaml')).toThrow(/set\.yaml: question 0: an in-scope question needs "source"/);
  });

  it('computes recall, MRR and answer figures at a threshold, and tunes the threshold that separates best', () => {
    const samples: EvalSample[] = [
      { question: q({ source: 'a' }), rank: 1, confidence: 0.9, top: null },
      { question: q({ source: 'a' }), rank: 2, confidence: 0.8, top: null },
      { question: q({ source: 'a' }), rank: null, confidence: 0.2, top: null },
      { question: q({ out_of_scope: true }), rank: null, confidence: 0.3, top: null },
      { question: q({ out_of_scope: true }), rank: null, confidence: 0.1, top: null },
    ];
    const r = report(samples, 0.5);
    expect(r).toMatchObject({ inScope: 3, outOfScope: 2, answeredRight: 1, answeredWrong: 1, declinedInScope: 1, outOfScopeDeclined: 2 });
    expect(r.recallAt1).toBeCloseTo(1 / 3);
    expect(r.recallAt5).toBeCloseTo(2 / 3);
    expect(r.mrr).toBeCloseTo((1 + 0.5) / 3);
    // Between the out-of-scope 0.3 and the answered 0.8: every out-of-scope question declined, the right answer kept.
    const t = tuneThreshold(samples);
    expect(t).toBeGreaterThan(0.3);
    expect(t).toBeLessThanOrEqual(0.9);
    expect(report(samples, t)).toMatchObject({ answeredRight: 1, outOfScopeDeclined: 2 });
  });
});
