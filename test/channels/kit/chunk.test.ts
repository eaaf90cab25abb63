import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkRendered, type Markup } from '../../../src/channels/kit/chunk.js';
import { renderMarkdown, type MarkdownRenderer } from '../../../src/channels/kit/markdown.js';
import { escapeHtml, escapeHtmlAttribute, fencedMarkup, htmlMarkup } from '../../../src/channels/kit/markup.js';

/** A plain HTML rendering, enough to exercise the chunker on nested and preformatted markup. */
const html: MarkdownRenderer = {
  text: escapeHtml,
  strong: (inner) => `<b>${inner}</b>`,
  em: (inner) => `<i>${inner}</i>`,
  del: (inner) => `<s>${inner}</s>`,
  codespan: (code) => `<code>${escapeHtml(code)}</code>`,
  link: (href, inner) => `<a href="${escapeHtmlAttribute(href)}">${inner}</a>`,
  image: (href, alt) => `<a href="${escapeHtmlAttribute(href)}">${escapeHtml(alt || href)}</a>`,
  br: () => '\n',
  paragraph: (inner) => inner,
  heading: (inner) => `<b>${inner}</b>`,
  code: (code) => `<pre><code>${escapeHtml(code)}</code></pre>`,
  blockquote: (inner) => `<blockquote>${inner}</blockquote>`,
  list: (items, ordered, start) => items.map((item, i) => `${ordered ? `${start + i}.` : '•'} ${item}`).join('\n'),
  hr: () => '—',
  table: (header, rows) => `<pre>${escapeHtml([header, ...rows].map((r) => r.join(' | ')).join('\n'))}</pre>`,
};

/** Every element a chunk opens it also closes, in order. */
function balanced(text: string, markup: Markup): boolean {
  const stack: string[] = [];
  for (const unit of markup.scan(text)) {
    if (unit.kind === 'open') stack.push(unit.name);
    else if (unit.kind === 'close' && stack.pop() !== unit.name) return false;
  }
  return stack.length === 0;
}

const squash = (s: string): string => s.replace(/\s+/g, '');

/** What a reader sees: text and entities, no markup (and no link addresses, unlike `plain`). */
const visible = (text: string, markup: Markup): string =>
  markup
    .scan(text)
    .map((unit) => (unit.kind === 'text' || unit.kind === 'entity' || unit.kind === 'void' ? unit.text : ''))
    .join('');

const word = fc.stringMatching(/^[a-zA-Z0-9<>&*_.!?'"-]{1,12}$/);
const words = (max: number) => fc.array(word, { minLength: 1, maxLength: max }).map((ws) => ws.join(' '));
const url = fc.stringMatching(/^[a-z0-9]{1,40}$/).map((path) => `https://example.com/${path}?a=1&b=2`);
const inline = fc.oneof(
  { weight: 5, arbitrary: words(30) },
  { weight: 2, arbitrary: fc.tuple(words(6), url).map(([label, href]) => `[${label.replace(/[[\]]/g, '')}](${href})`) },
  { weight: 1, arbitrary: words(5).map((w) => `**${w.replace(/\*/g, '')}**`) },
  { weight: 1, arbitrary: words(4).map((w) => `\`${w.replace(/`/g, '')}\``) },
);
const paragraph = fc.array(inline, { minLength: 1, maxLength: 8 }).map((parts) => parts.join(' '));
const codeLine = fc.stringMatching(/^ {0,6}[a-z0-9 <>&(){};=.]{0,70}$/);
const fence = fc
  .tuple(fc.constantFrom('', 'ts', 'python'), fc.array(codeLine, { minLength: 1, maxLength: 120 }))
  .map(([lang, lines]) => `\`\`\`${lang}\n${lines.join('\n')}\n\`\`\``);
const list = fc.array(words(12), { minLength: 1, maxLength: 6 }).map((items) => items.map((i) => `- ${i}`).join('\n'));
const heading = words(6).map((w) => `## ${w.replace(/#/g, '')}`);
const markdown = fc
  .array(fc.oneof({ weight: 4, arbitrary: paragraph }, { weight: 2, arbitrary: fence }, list, heading), { minLength: 1, maxLength: 12 })
  .map((blocks) => blocks.join('\n\n'));

describe('chunkRendered on HTML', () => {
  it('keeps every part within the limit, balanced, links whole, and loses no visible text', () => {
    fc.assert(
      fc.property(markdown, fc.integer({ min: 120, max: 1500 }), (md, limit) => {
        const rendered = renderMarkdown(md, html);
        const chunks = chunkRendered(rendered, limit, htmlMarkup);
        for (const chunk of chunks) {
          expect(chunk.text.length).toBeLessThanOrEqual(limit);
          expect(balanced(chunk.text, htmlMarkup)).toBe(true);
          expect(chunk.plain).toBe(htmlMarkup.plain(chunk.text));
        }
        // A link is cut only when it cannot fit beside the markup around it.
        for (const link of rendered.match(/<a [^>]*>.*?<\/a>/g) ?? []) {
          if (link.length <= limit / 2) expect(chunks.some((c) => c.text.includes(link))).toBe(true);
        }
        expect(squash(chunks.map((c) => visible(c.text, htmlMarkup)).join(''))).toBe(squash(visible(rendered, htmlMarkup)));
      }),
      { numRuns: 300 },
    );
  });

  it('sends a short reply as one part, unchanged', () => {
    const rendered = renderMarkdown('Hello **world** & <friends>', html);
    expect(chunkRendered(rendered, 4000, htmlMarkup)).toEqual([
      { text: 'Hello <b>world</b> &amp; &lt;friends&gt;', plain: 'Hello world & <friends>' },
    ]);
  });

  it('prefers a paragraph break to a later line or space', () => {
    const a = 'a'.repeat(60);
    const text = `${a} ${a}\n\n${a} ${a}\nmore ${a}`;
    const chunks = chunkRendered(text, 200, htmlMarkup);
    expect(chunks.map((c) => c.text)).toEqual([`${a} ${a}`, `${a} ${a}\nmore ${a}`]);
  });

  it('takes a line break when the paragraph break would leave the part under half full', () => {
    const text = `short\n\n${'b'.repeat(70)}\n${'c'.repeat(70)}\n${'d'.repeat(70)}`;
    const chunks = chunkRendered(text, 160, htmlMarkup);
    expect(chunks[0]!.text).toBe(`short\n\n${'b'.repeat(70)}\n${'c'.repeat(70)}`);
  });

  it('ends a part after a sentence before any other space', () => {
    const text = `${'x '.repeat(20)}end. ${'y '.repeat(10)}tail ${'z'.repeat(60)}`;
    const chunks = chunkRendered(text, 80, htmlMarkup);
    expect(chunks[0]!.text.endsWith('end.')).toBe(true);
  });

  it('closes and reopens a code block cut in two, keeping indentation', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `    line ${i} &lt; x`);
    const rendered = `<pre><code class="language-ts">${lines.join('\n')}</code></pre>`;
    const chunks = chunkRendered(rendered, 300, htmlMarkup);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(chunk.text.startsWith('<pre><code class="language-ts">    line ')).toBe(true);
      expect(chunk.text.endsWith('</code></pre>')).toBe(true);
    }
    expect(chunks.map((c) => c.plain).join('\n')).toBe(lines.join('\n').replace(/&lt;/g, '<'));
  });

  it('cuts a word with no space in reach, but never an entity or a tag', () => {
    const rendered = `<b>${'&amp;'.repeat(100)}</b>`;
    const chunks = chunkRendered(rendered, 64, htmlMarkup);
    for (const chunk of chunks) {
      expect(chunk.text).toMatch(/^<b>(&amp;)+<\/b>$/);
      expect(chunk.text.length).toBeLessThanOrEqual(64);
    }
    expect(chunks.map((c) => c.plain).join('')).toBe('&'.repeat(100));
  });

  it('splits a link only when the link alone is longer than a part, as two links to the same address', () => {
    const rendered = `<a href="https://x.example/">${'word '.repeat(40).trim()}</a>`;
    const chunks = chunkRendered(rendered, 100, htmlMarkup);
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expect(chunk.text).toMatch(/^<a href="https:\/\/x\.example\/">[a-z ]+<\/a>$/);
  });

  it('gives a link in the plain text its address', () => {
    expect(htmlMarkup.plain('see <a href="https://a.example/?x=1&amp;y=2">the docs</a> or <a href="https://b.example">https://b.example</a>')).toBe(
      'see the docs (https://a.example/?x=1&y=2) or https://b.example',
    );
  });

  it('does not split a surrogate pair', () => {
    const chunks = chunkRendered('😀'.repeat(50), 20, htmlMarkup);
    expect(chunks.every((c) => c.text.length <= 20 && !/[\ud800-\udbff]$/.test(c.text))).toBe(true);
    expect(chunks.map((c) => c.text).join('')).toBe('😀'.repeat(50));
  });
});

describe('chunkRendered on fenced Markdown', () => {
  it('keeps every part within the limit with balanced fences and no visible text lost', () => {
    fc.assert(
      fc.property(markdown, fc.integer({ min: 120, max: 1500 }), (md, limit) => {
        const chunks = chunkRendered(md, limit, fencedMarkup);
        for (const chunk of chunks) {
          expect(chunk.text.length).toBeLessThanOrEqual(limit);
          expect(balanced(chunk.text, fencedMarkup)).toBe(true);
          expect((chunk.text.match(/^```/gm) ?? []).length % 2).toBe(0);
        }
        expect(squash(chunks.map((c) => visible(c.text, fencedMarkup)).join(''))).toBe(squash(visible(md, fencedMarkup)));
      }),
      { numRuns: 200 },
    );
  });

  it('reopens a fence with its language after a split', () => {
    const body = Array.from({ length: 30 }, (_, i) => `print(${i})`).join('\n');
    const chunks = chunkRendered(`intro\n\n\`\`\`python\n${body}\n\`\`\``, 120, fencedMarkup);
    expect(chunks.length).toBeGreaterThan(2);
    chunks.forEach((chunk, i) =>
      expect(chunk.text).toMatch(new RegExp(`^${i === 0 ? 'intro\\n\\n' : ''}\`\`\`python\\nprint\\(\\d+\\)(\\nprint\\(\\d+\\))*\\n\`\`\`$`)),
    );
  });
});

describe('chunkRendered edge cases', () => {
  it('degrades a Markdown link too long to share a part to its text, within the limit', () => {
    const link = `[${'label '.repeat(10).trim()}](https://example.com/${'p'.repeat(80)})`;
    const chunks = chunkRendered(`see ${link} now`, 60, fencedMarkup);
    expect(chunks.every((c) => c.text.length <= 60)).toBe(true);
    expect(squash(chunks.map((c) => c.plain).join(''))).toBe(squash(`see ${'label '.repeat(10)} (https://example.com/${'p'.repeat(80)}) now`));
  });

  it('refuses a limit too small to hold any markup', () => {
    expect(() => chunkRendered('x', 8, htmlMarkup)).toThrow(RangeError);
  });
});
