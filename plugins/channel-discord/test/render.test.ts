import { describe, expect, it } from 'vitest';
import { escapeDiscord, renderDiscord, renderParts } from '../render.js';

describe('discord rendering', () => {
  it('writes Markdown back as Discord markdown with literal markup escaped outside code', () => {
    expect(renderDiscord('**bold** and *it* and ~~gone~~ with 2 * 3 and a_b_c | > x')).toBe('**bold** and *it* and ~~gone~~ with 2 \\* 3 and a\\_b\\_c \\| \\> x');
    expect(renderDiscord('`a*b` then\n\n```js\nconst x = a*b;\n```')).toBe('`a*b` then\n\n```js\nconst x = a*b;\n```');
    expect(escapeDiscord('\\ * _ ~ ` > | [ ]')).toBe('\\\\ \\* \\_ \\~ \\` \\> \\| \\[ \\]');
  });

  it('keeps http(s) links as masked links and writes others out as text', () => {
    expect(renderDiscord('[docs](https://example.com/a) and [bad](javascript:alert(1))')).toBe('[docs](<https://example.com/a>) and bad (javascript:alert(1))');
  });

  it('degrades headings, lists, quotes and tables', () => {
    expect(renderDiscord('# Title\n\n- one\n- two\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |')).toBe('**Title**\n\n• one\n• two\n\n> quoted\n\n```\na | b\n--+--\n1 | 2\n```');
  });

  it('a fence inside code gets a longer fence around it', () => {
    expect(renderDiscord('````\n```inner```\n````')).toBe('````\n```inner```\n````');
  });

  it('chunks within the limit, closing and reopening a code fence across parts', () => {
    const code = '```\n' + Array.from({ length: 100 }, (_, i) => `line ${i} of the code block`).join('\n') + '\n```';
    const parts = renderParts(code, 500);
    expect(parts.length).toBeGreaterThan(4);
    for (const part of parts) {
      expect(part.text.length).toBeLessThanOrEqual(500);
      expect(part.text.startsWith('```')).toBe(true);
      expect(part.text.trimEnd().endsWith('```')).toBe(true);
    }
    expect(renderParts('   ', 2000)).toEqual([]);
  });
});
