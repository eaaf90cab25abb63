import { describe, expect, it } from 'vitest';
import { jsonBytes, plainMatrix, renderMatrix, renderParts } from '../render.js';

describe('Matrix rendering', () => {
  it('renders Markdown as Matrix HTML with the text escaped', () => {
    expect(renderMatrix('**bold** _it_ ~~gone~~ `a<b>` [site](https://example.com?a=1&b="2")')).toBe(
      '<p><strong>bold</strong> <em>it</em> <del>gone</del> <code>a&lt;b&gt;</code> <a href="https://example.com?a=1&amp;b=&quot;2&quot;">site</a></p>',
    );
    expect(renderMatrix('<script>alert(1)</script>')).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(renderMatrix('[x](javascript:alert(1))')).toBe('<p>x (javascript:alert(1))</p>');
    expect(renderMatrix('```ts\nlet a = 1 < 2;\n```')).toBe('<pre><code class="language-ts">let a = 1 &lt; 2;</code></pre>');
  });

  it('writes list markers into the plain body', () => {
    const html = renderMatrix('- one\n- two\n\n3. three\n4. four');
    expect(html).toContain('<ul>');
    expect(html).toContain('<ol start="3">');
    expect(plainMatrix(html)).toBe('• one\n• two\n\n3. three\n4. four');
  });

  it('sends a plain paragraph without a formatted body, anything richer with one', () => {
    expect(renderParts('re: hello there', 32_000)).toEqual([{ text: '<p>re: hello there</p>', plain: 're: hello there', extra: { format: 'plain' } }]);
    expect(renderParts('**hi**', 32_000)).toEqual([{ text: '<p><strong>hi</strong></p>', plain: 'hi', extra: { format: 'html' } }]);
    expect(renderParts('   ', 32_000)).toEqual([]);
  });

  it('keeps both bodies of every part within the byte limit, counting multi-byte text and JSON escapes', () => {
    const markdown = Array.from({ length: 200 }, (_, i) => `Абзац ${i}: «текст» с "кавычками" и\nпереносом.`).join('\n\n');
    const parts = renderParts(markdown, 2000);
    expect(parts.length).toBeGreaterThan(5);
    for (const part of parts) {
      expect(jsonBytes(part.text)).toBeLessThanOrEqual(2000);
      expect(jsonBytes(part.plain)).toBeLessThanOrEqual(2000);
    }
    expect(parts.map((p) => p.plain).join('\n\n')).toContain('Абзац 199');
  });
});
