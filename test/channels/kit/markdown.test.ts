import { describe, expect, it } from 'vitest';
import { decodeEntities, lexMarkdown, plainInline, renderMarkdown, type MarkdownRenderer } from '../../../src/channels/kit/markdown.js';

/** Writes each construct as a visible tag, so a test sees exactly which visitor method ran. */
const tagged: MarkdownRenderer = {
  text: (t) => t,
  strong: (i) => `[b:${i}]`,
  em: (i) => `[i:${i}]`,
  del: (i) => `[s:${i}]`,
  codespan: (c) => `[code:${c}]`,
  link: (href, inner, label) => `[a ${href}|${label}:${inner}]`,
  image: (href, alt) => `[img ${href}|${alt}]`,
  br: () => '[br]',
  paragraph: (i) => `[p:${i}]`,
  heading: (i, depth) => `[h${depth}:${i}]`,
  code: (c, lang) => `[pre ${lang ?? '-'}:${c}]`,
  blockquote: (i) => `[quote:${i}]`,
  list: (items, ordered, start) => `[${ordered ? `ol ${start}` : 'ul'}:${items.join('|')}]`,
  hr: () => '[hr]',
  table: (header, rows) => `[table ${header.join(',')}/${rows.map((r) => r.join(',')).join(';')}]`,
};

describe('renderMarkdown', () => {
  it('walks blocks and inline constructs through the visitor', () => {
    const md = '# Title\n\nSome **bold _and em_** ~~gone~~ `x < y` [docs](https://d.example "t") ![pic](https://i.example/p.png)\nline  \nbreak\n\n```ts\nconst a = 1;\n```\n\n> quoted\n\n---';
    expect(renderMarkdown(md, tagged)).toBe(
      [
        '[h1:Title]',
        '[p:Some [b:bold [i:and em]] [s:gone] [code:x < y] [a https://d.example|docs:docs] [img https://i.example/p.png|pic]\nline[br]break]',
        '[pre ts:const a = 1;]',
        '[quote:[p:quoted]]',
        '[hr]',
      ].join('\n\n'),
    );
  });

  it('renders lists with their start, nesting and task boxes', () => {
    expect(renderMarkdown('3. three\n4. four\n   - nested\n\n- [x] done\n- [ ] todo', tagged)).toBe(
      '[ol 3:three|four\n[ul:nested]]\n\n[ul:[x] done|[ ] todo]',
    );
  });

  it('gives tables as plain cells', () => {
    expect(renderMarkdown('| a | **b** |\n|---|---|\n| 1 | `2` |', tagged)).toBe('[table a,b/1,2]');
  });

  it('shows raw HTML as text, and entity references in prose as their character but not in code', () => {
    expect(renderMarkdown('a <b>x</b> &amp; &#x41; `&amp;`', tagged)).toBe('[p:a <b>x</b> & A [code:&amp;]]');
    expect(renderMarkdown('<div>\nblock\n</div>', tagged)).toBe('[p:<div>\nblock\n</div>]');
  });

  it('takes the visible text of inline tokens', () => {
    const [paragraph] = lexMarkdown('**a** [b](https://x) `c`\\*');
    expect(paragraph?.type).toBe('paragraph');
    expect(plainInline((paragraph as { tokens: ReturnType<typeof lexMarkdown> }).tokens)).toBe('a b c*');
  });

  it('decodes only valid entity references', () => {
    expect(decodeEntities('&lt;&gt;&amp;&quot;&#39;&#xD800;&bogus;&#1114112;')).toBe('<>&"\'&#xD800;&bogus;&#1114112;');
  });
});
