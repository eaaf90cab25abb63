import { describe, expect, test } from 'vitest';
import { parseHtml } from '../../../src/kb/parse/html.js';

const page = `<!doctype html>
<html><head><title>Pincer &amp; Friends</title>
<style>body { color: red }</style>
<script>var tracking = "SECRET-SCRIPT";</script></head>
<body>
<header><a href="/">Site header text</a></header>
<nav><ul><li><a href="/a">Menu entry</a></li></ul></nav>
<main>
<h1>Getting started</h1>
<p>Pincer is a <strong>chat-bot</strong> framework.</p>
<h2>Ports</h2>
<table><thead><tr><th>Service</th><th>Port</th></tr></thead>
<tbody><tr><td>HTTP</td><td>8080</td></tr><tr><td>Metrics</td><td>9090</td></tr></tbody></table>
<pre><code># a comment, not a heading
npm start</code></pre>
</main>
<footer>Copyright footer text</footer>
<script>console.log("SECRET-SCRIPT-2")</script>
</body></html>`;

describe('HTML', () => {
  test('main text as Markdown sections; title from <title>; scripts, styles, nav, header and footer dropped', () => {
    const doc = parseHtml(page, 'start.html');
    expect(doc.format).toBe('html');
    expect(doc.title).toBe('Pincer & Friends');
    expect(doc.sections.map((s) => s.headingPath)).toEqual([['Getting started'], ['Getting started', 'Ports']]);
    expect(doc.sections[0]?.text).toBe('Pincer is a **chat-bot** framework.');
    const all = doc.sections.map((s) => s.text).join('\n');
    for (const gone of ['SECRET-SCRIPT', 'color: red', 'Site header text', 'Menu entry', 'Copyright footer text']) expect(all).not.toContain(gone);
  });

  test('a table becomes a GFM table and a <pre> a code fence, whose # line is no heading', () => {
    const ports = parseHtml(page, 'start.html').sections[1];
    expect(ports?.text).toContain('| Service | Port |\n| --- | --- |\n| HTTP | 8080 |\n| Metrics | 9090 |');
    expect(ports?.text).toContain('```\n# a comment, not a heading\nnpm start\n```');
    // Lines are those of the converted Markdown: the section's first line holds its text's first line.
    expect(ports?.lineStart).toBeGreaterThan(0);
    expect((ports?.lineEnd ?? 0) - (ports?.lineStart ?? 0)).toBe((ports?.text.split('\n').length ?? 0) - 1);
  });

  test('without <title>, the first <h1> is the title; without either, the file name', () => {
    expect(parseHtml('<body><h1>From H1</h1><p>x</p></body>', 'a.htm').title).toBe('From H1');
    expect(parseHtml('<p>just text</p>', 'dir/page.htm').title).toBe('page');
  });

  test('generated navigation without <nav> (DocBook navheader, role=navigation, a table of contents) is dropped; images are their alt text', () => {
    const html = `<div class="navheader"><table><tr><td><a href="prev.html"><img src="prev.png" alt="Prev"></a></td></tr></table></div>
<div role="navigation">Skip to menu</div><div class="toc">1.1 What is this FAQ?</div>
<h1>Chapter 1</h1><p>Body text <img src="x.png" alt="a diagram"> here.</p>
<div class="navfooter">Next chapter</div>`;
    const doc = parseHtml(html, 'c.html');
    expect(doc.sections).toEqual([{ headingPath: ['Chapter 1'], text: 'Body text a diagram here.', lineStart: 3, lineEnd: 3, page: null }]);
  });

  test('a page with one <main> is read from it alone; its <title> still names it', () => {
    const doc = parseHtml('<html><head><title>T</title></head><body><div>Sidebar words</div><main class="x"><h1>Main</h1><p>Kept.</p></main><aside>Aside words</aside></body></html>', 'm.html');
    expect(doc.title).toBe('T');
    expect(doc.sections.map((s) => [s.headingPath, s.text])).toEqual([[['Main'], 'Kept.']]);
  });
});
