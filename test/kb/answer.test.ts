import { describe, expect, it } from 'vitest';
import { bestSentences, checkCitations, extractAnswer, passageName, passagesPrompt } from '../../src/kb/answer.js';
import type { KbHit } from '../../src/kb/retrieval.js';

const hit = (over: Partial<KbHit>): KbHit => ({
  chunkId: 'kc_1',
  sourceId: 'ks_1',
  source: 'kb:guide.md',
  title: 'User guide',
  kind: 'section',
  headingPath: ['User guide', 'Accounts', 'Passwords'],
  questions: [],
  text: '',
  lineStart: 12,
  lineEnd: 30,
  page: null,
  score: 0.03,
  lexicalRank: 1,
  vectorRank: null,
  coverage: 0.9,
  ...over,
});

describe('knowledge answers', () => {
  it('extracts the sentences that cover the question, in order, with a footnote naming the passage', () => {
    const text =
      'Accounts have a profile page. Your avatar can be changed there. To reset your password, open Settings and choose Security. A reset link is sent to your email. The link expires after one hour. Billing is handled elsewhere.';
    expect(bestSentences(text, ['reset', 'password', 'link'])).toBe('To reset your password, open Settings and choose Security. A reset link is sent to your email. The link expires after one hour.');
    const answer = extractAnswer({ terms: ['reset', 'password'], confidence: 0.9, hits: [hit({ text })] });
    expect(answer.text).toMatch(/^To reset your password, open Settings and choose Security\. A reset link is sent to your email\./);
    expect(answer.text).toMatch(/\n\n\[1\] User guide › Accounts › Passwords \(line 12\)$/);
    expect(answer.citations).toEqual([{ n: 1, source: 'kb:guide.md', title: 'User guide', heading: 'User guide › Accounts › Passwords', line: 12, page: null, score: 0.03 }]);
  });

  it("answers a FAQ entry with its answer, and names a PDF passage by page", () => {
    const faq = hit({ kind: 'faq', questions: ['How do I cancel?'], text: 'Write to support; cancellations take effect at the end of the month.', headingPath: [], title: 'faq.yaml', lineStart: 3 });
    expect(extractAnswer({ terms: ['cancel'], confidence: 1, hits: [faq] }).text).toBe('Write to support; cancellations take effect at the end of the month.\n\n[1] faq.yaml › How do I cancel? (line 3)');
    expect(passageName(hit({ page: 4, lineStart: null, headingPath: [] }))).toBe('User guide (page 4)');
  });

  it("numbers passages for a model, and keeps only citations of passages it was given", () => {
    const hits = [hit({ text: 'first' }), hit({ text: 'second', chunkId: 'kc_2', source: 'kb:other.md', title: 'Other', headingPath: [] })];
    const prompt = passagesPrompt(hits);
    expect(prompt).toContain('[1] (User guide › Accounts › Passwords (line 12))\nfirst');
    expect(prompt).toContain('[2] (Other (line 12))\nsecond');
    expect(prompt).toContain("say that you don't know");
    const checked = checkCitations('Open Settings [1]. It is quick [7]. See also [2].', hits);
    expect(checked.text).toBe('Open Settings [1]. It is quick . See also [2].');
    expect(checked.citations.map((c) => [c.n, c.source])).toEqual([
      [1, 'kb:guide.md'],
      [2, 'kb:other.md'],
    ]);
    expect(checkCitations('No idea.', hits).citations).toEqual([]);
  });
});
