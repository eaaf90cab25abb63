import { describe, expect, test } from 'vitest';
import { isErrorCode } from '../../../src/errors.js';
import { parseMarkdown } from '../../../src/kb/parse/markdown.js';

/** The lines of `source` a section says it spans, to check they hold exactly its text. */
function linesOf(source: string, s: { lineStart: number | null; lineEnd: number | null }): string {
  return source
    .split('\n')
    .slice((s.lineStart ?? 0) - 1, s.lineEnd ?? 0)
    .join('\n');
}

describe('Markdown', () => {
  const source = [
    'Intro before any heading.', // 1
    '', // 2
    '# Pincer Guide', // 3
    '', // 4
    'Welcome text.', // 5
    '', // 6
    '## Installing', // 7
    '', // 8
    'Run this:', // 9
    '', // 10
    '```sh', // 11
    '# not a heading, a shell comment', // 12
    'npm start', // 13
    '```', // 14
    '', // 15
    '### On **Debian**', // 16
    'apt-get install it.', // 17
    '', // 18
    'Backups', // 19
    '-------', // 20
    '', // 21
    '| what | where |', // 22
    '|------|-------|', // 23
    '| db   | data/ |', // 24
    '', // 25
    '# Second top', // 26
    'Last words.', // 27
  ].join('\n');

  test('sections by ATX and setext heading, with the path of headings above and the lines of their text', () => {
    const doc = parseMarkdown(source, 'guide.md');
    expect(doc.title).toBe('Pincer Guide');
    expect(doc.format).toBe('markdown');
    expect(doc.sections.map((s) => [s.headingPath, s.lineStart, s.lineEnd])).toEqual([
      [[], 1, 1],
      [['Pincer Guide'], 5, 5],
      [['Pincer Guide', 'Installing'], 9, 14],
      [['Pincer Guide', 'Installing', 'On Debian'], 17, 17],
      [['Pincer Guide', 'Backups'], 22, 24],
      [['Second top'], 27, 27],
    ]);
    for (const s of doc.sections) expect(linesOf(source, s)).toBe(s.text);
  });

  test('a # line inside a code fence is no heading, and the fence stays in its section intact', () => {
    const doc = parseMarkdown(source, 'guide.md');
    const installing = doc.sections[2];
    expect(installing?.text).toContain('```sh\n# not a heading, a shell comment\nnpm start\n```');
    expect(doc.sections.some((s) => s.headingPath.includes('not a heading, a shell comment'))).toBe(false);
  });

  test('a ~~~ fence and an unclosed fence hide headings too', () => {
    const doc = parseMarkdown('# A\n~~~\n# no\n~~~\n# B\n```\n# no either\n', 'f.md');
    expect(doc.sections.map((s) => s.headingPath)).toEqual([['A'], ['B']]);
  });

  test('the title is the first H1; without one, the file name without folder or extension', () => {
    expect(parseMarkdown('## Only an H2\ntext', 'docs/faq-page.markdown').title).toBe('faq-page');
    expect(parseMarkdown('text\n\n# Late H1\nmore', 'x.md').title).toBe('Late H1');
  });

  test('CJK text: headings and lines as in any other language', () => {
    const cjk = '# 安装指南\n\n使用 npm 安装。\n\n## 在 Debian 上\n\n运行 apt-get。\n\n## 日本語の説明\n\nこれは説明です。';
    const doc = parseMarkdown(cjk, 'zh.md');
    expect(doc.title).toBe('安装指南');
    expect(doc.sections.map((s) => [s.headingPath, s.text, s.lineStart])).toEqual([
      [['安装指南'], '使用 npm 安装。', 3],
      [['安装指南', '在 Debian 上'], '运行 apt-get。', 7],
      [['安装指南', '日本語の説明'], 'これは説明です。', 11],
    ]);
  });

  test('CRLF line endings and a byte order mark count lines the same', () => {
    const doc = parseMarkdown('\uFEFF# T\r\n\r\nBody\r\nmore\r\n', 'w.md');
    expect(doc.sections).toEqual([{ headingPath: ['T'], text: 'Body\nmore', lineStart: 3, lineEnd: 4, page: null }]);
  });

  test('a heading with no text of its own makes no empty section; an empty file makes none', () => {
    expect(parseMarkdown('# A\n## B\ntext', 'a.md').sections.map((s) => s.headingPath)).toEqual([['A', 'B']]);
    expect(parseMarkdown('', 'e.md').sections).toEqual([]);
  });
});

describe('Markdown front matter', () => {
  test('title and a list of questions for the first section; lines counted from the file top', () => {
    const text = '---\ntitle: Refunds\nquestions:\n  - How do I get my money back?\n  - Can I return an item?\n---\n# Returns policy\n\nWithin 30 days.';
    const doc = parseMarkdown(text, 'r.md');
    expect(doc.title).toBe('Refunds');
    expect(doc.sections).toEqual([
      { headingPath: ['Returns policy'], text: 'Within 30 days.', lineStart: 9, lineEnd: 9, page: null, questions: ['How do I get my money back?', 'Can I return an item?'] },
    ]);
    expect(doc.problems).toBeUndefined();
  });

  test('questions per heading (any case); a heading with no text passes them to its first subsection; unknown headings are problems', () => {
    const text = ['---', 'questions:', '  shipping: [How long does delivery take?]', '  Payments: Which cards do you take?', '  Nowhere: [Lost question]', '---', '# Shipping', 'Two days.', '# Payments', '## Cards', 'Visa.', '## Cash', 'No.'].join('\n');
    const doc = parseMarkdown(text, 'q.md');
    expect(doc.sections.map((s) => [s.headingPath.join(' > '), s.questions ?? []])).toEqual([
      ['Shipping', ['How long does delivery take?']],
      ['Payments > Cards', ['Which cards do you take?']],
      ['Payments > Cash', []],
    ]);
    expect(doc.problems).toEqual(['q.md: front matter questions name the heading "Nowhere", which the document does not have']);
  });

  test('invalid YAML in the front matter is KB_PARSE_FAILED with the file line', () => {
    let caught: unknown;
    try {
      parseMarkdown('---\ntitle: ok\nquestions: [unclosed\n---\n# T\nx', 'bad.md');
    } catch (err) {
      caught = err;
    }
    expect(isErrorCode(caught, 'KB_PARSE_FAILED')).toBe(true);
    expect((caught as Error).message).toBe('bad.md:4: the front matter is not valid YAML (Flow sequence in block collection must be sufficiently indented and end with a ])');
    let nested: unknown;
    try {
      parseMarkdown('---\ntitle: a: b\n---\nx', 'n.md');
    } catch (err) {
      nested = err;
    }
    expect((nested as Error).message).toMatch(/^n\.md:2: the front matter is not valid YAML \(.*[^:]\)$/);
  });

  test('a --- that is no front matter (not on the first line, or never closed) is Markdown', () => {
    expect(parseMarkdown('text\n\n---\n\nmore', 'h.md').sections[0]?.text).toBe('text\n\n---\n\nmore');
    expect(parseMarkdown('---\nnot closed', 'n.md').sections.length).toBe(1);
  });
});
