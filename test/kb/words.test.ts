import { describe, expect, it } from 'vitest';
import { kbWords, stem } from '../../src/kb/words.js';

describe('knowledge-base words', () => {
  it('merges English inflections and leaves other words alone', () => {
    const pairs: Array<[string, string]> = [
      ['passwords', 'password'],
      ['password', 'password'],
      ['policies', 'policy'],
      ['policy', 'policy'],
      ['resetting', 'reset'],
      ['reset', 'reset'],
      ['upgraded', 'upgrad'],
      ['upgrade', 'upgrad'],
      ['upgrading', 'upgrad'],
      ['installed', 'install'],
      ['matches', 'match'],
      ['copied', 'copy'],
    ];
    for (const [word, expected] of pairs) expect(stem(word), word).toBe(expected);
    // Short words, words ending in -ss/-us/-is, and words that only look inflected stay.
    for (const word of ['bus', 'class', 'this', 'status', 'bring', 'red', 'free', 'file', '密码', 'café']) expect(stem(word), word).toBe(word);
  });

  it('cuts a text into stemmed words, CJK included', () => {
    expect(kbWords('Resetting your Passwords — 如何重置我的密码')).toEqual(['reset', 'your', 'password', ...kbWords('如何重置我的密码')]);
    expect(kbWords('如何重置我的密码').length).toBeGreaterThan(2);
  });
});
