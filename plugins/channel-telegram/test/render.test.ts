import { describe, expect, it } from 'vitest';
import { htmlMarkup } from 'pincer/channel-kit';
import { renderParts, renderTelegram } from '../render.js';

/** The tags Telegram's HTML parse mode takes. */
const ALLOWED = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'span', 'tg-spoiler', 'a', 'code', 'pre', 'blockquote']);

function wellFormed(html: string): boolean {
  const stack: string[] = [];
  for (const unit of htmlMarkup.scan(html)) {
    if (unit.kind === 'open') {
      if (!ALLOWED.has(unit.name)) return false;
      stack.push(unit.name);
    } else if (unit.kind === 'close' && stack.pop() !== unit.name) return false;
    else if (unit.kind === 'void') return false;
  }
  // Only markup may start with "<": every literal one is escaped.
  return stack.length === 0 && !/<(?![a-z/])/i.test(html);
}

describe('Telegram HTML rendering', () => {
  it('escapes only <, > and &, and maps emphasis to Telegram tags', () => {
    expect(renderTelegram('**bold** _it_ ~~gone~~ `a<b && c>d` 5 > 3 & "quoted"')).toBe(
      '<b>bold</b> <i>it</i> <s>gone</s> <code>a&lt;b &amp;&amp; c&gt;d</code> 5 &gt; 3 &amp; "quoted"',
    );
  });

  it('writes headings bold, lists as bullet and number lines, and a rule as dashes', () => {
    expect(renderTelegram('# Plan\n\n- one\n- two\n  1. deep\n\n3. c\n4. d\n\n---')).toBe(
      '<b>Plan</b>\n\n• one\n• two\n  1. deep\n\n3. c\n4. d\n\n——————',
    );
  });

  it('turns a table into an aligned <pre> block', () => {
    expect(renderTelegram('| name | n |\n|---|--:|\n| a<b | 10 |\n| ccc | 2 |')).toBe('<pre>name | n\n-----+---\na&lt;b  | 10\nccc  | 2</pre>');
  });

  it('keeps code blocks with their language, links with their address, and images as links', () => {
    expect(renderTelegram('```ts\nif (a < b) {}\n```')).toBe('<pre><code class="language-ts">if (a &lt; b) {}</code></pre>');
    expect(renderTelegram('[docs](https://x.example/?a=1&b="2")')).toBe('<a href="https://x.example/?a=1&amp;b=&quot;2&quot;">docs</a>');
    expect(renderTelegram('![a cat](https://img.example/cat.png)')).toBe('<a href="https://img.example/cat.png">a cat</a>');
  });

  it('does not link an address Telegram would refuse, and shows it instead', () => {
    expect(renderTelegram('[click](javascript:alert(1))')).toBe('click (javascript:alert(1))');
  });

  it('flattens a quote inside a quote, which Telegram refuses', () => {
    expect(renderTelegram('> outer\n>\n> > inner')).toBe('<blockquote>outer\n\ninner</blockquote>');
  });

  it('shows raw HTML from the model as text', () => {
    expect(renderTelegram('<script>x</script> <b>no</b>')).toBe('&lt;script&gt;x&lt;/script&gt; &lt;b&gt;no&lt;/b&gt;');
  });

  it('cuts a 10,000-character reply with a long code block into well-formed parts within the limit', () => {
    const prose = Array.from({ length: 30 }, (_, i) => `Paragraph ${i} has **bold** text, a [link](https://example.com/${i}) and <angles> & more.`).join('\n\n');
    const code = Array.from({ length: 150 }, (_, i) => `  const value${i} = compute(${i}) < limit && ready; // line ${i}`).join('\n');
    const markdown = `${prose}\n\n\`\`\`ts\n${code}\n\`\`\`\n\n${prose}`;
    expect(markdown.length).toBeGreaterThan(10_000);
    const parts = renderParts(markdown, 4000);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const part of parts) {
      expect(part.text.length).toBeLessThanOrEqual(4000);
      expect(wellFormed(part.text)).toBe(true);
      expect(part.extra).toEqual({ parse_mode: 'HTML' });
      expect(part.plain.length).toBeLessThanOrEqual(part.text.length);
    }
    const codeParts = parts.filter((p) => p.text.includes('const value'));
    expect(codeParts.length).toBeGreaterThan(1);
    for (const part of codeParts) expect(part.text).toMatch(/<pre><code class="language-ts">[^]*<\/code><\/pre>/);
    const squash = (s: string): string => s.replace(/\s+/g, '');
    expect(squash(parts.map((p) => p.plain).join(''))).toBe(squash(htmlMarkup.plain(renderTelegram(markdown))));
  });

  it('honours a smaller text_chunk_limit', () => {
    const parts = renderParts('word '.repeat(200), 100);
    expect(parts.length).toBeGreaterThan(9);
    expect(parts.every((p) => p.text.length <= 100)).toBe(true);
  });

  it('gives an empty reply no parts', () => {
    expect(renderParts('   \n\n', 4000)).toEqual([]);
  });
});
