import { describe, expect, it } from 'vitest';
import { distinctTokens, MAX_TOKEN_LENGTH, tokenize } from '../../src/text/tokens.js';

describe('tokenize', () => {
  it('splits words the Unicode way: Chinese and Japanese into words, punctuation and spaces dropped', () => {
    expect(tokenize('我喜欢吃苹果。')).toEqual(['我', '喜欢', '吃', '苹果']);
    expect(tokenize('東京の天気')).toEqual(['東京', 'の', '天気']);
    expect(tokenize('Hello, World! "quoted" -- 3.14')).toEqual(['hello', 'world', 'quoted', '3.14']);
  });

  it('normalises with NFKC and lower-cases, so full-width and ligature forms match plain ones', () => {
    expect(tokenize('ＰＩＮＣＥＲ ﬁle')).toEqual(['pincer', 'file']);
  });

  it('drops over-long words and stops at max; distinctTokens keeps first occurrences', () => {
    expect(tokenize(`${'x'.repeat(MAX_TOKEN_LENGTH + 1)} ok`)).toEqual(['ok']);
    expect(tokenize('a b c d', 2)).toEqual(['a', 'b']);
    expect(distinctTokens('cat dog cat bird', 2)).toEqual(['cat', 'dog']);
    expect(tokenize('"" OR * ()')).toEqual(['or']);
  });
});
