/**
 * Markdown replies as Matrix messages: `formatted_body` in org.matrix.custom.html (the tags
 * the spec recommends clients show: p, strong, em, del, code, pre, a, blockquote, ul, ol, li,
 * h1-h6, hr, br) with `< > & "` escaped, and `body` its plain text. Then each reply is cut into
 * parts whose body and formatted_body fit the account's byte limit.
 */
import { chunkRendered, escapeHtml, escapeHtmlAttribute, htmlMarkup, renderMarkdown, textTable, type Markup, type MarkdownRenderer } from 'pincer/channel-kit';
import type { RenderedPart } from 'pincer/plugin';

/** Schemes clients make links of; anything else (javascript:) stays visible text. */
const LINKABLE = /^(https?|mailto|matrix):/i;
const MAX_HREF = 2048;

function link(href: string, inner: string): string {
  const label = inner === '' ? escapeHtml(href) : inner;
  if (!LINKABLE.test(href) || href.length > MAX_HREF) return inner === '' ? label : `${label} (${escapeHtml(href)})`;
  return `<a href="${escapeHtmlAttribute(href)}">${label}</a>`;
}

function table(header: string[], rows: string[][]): string {
  // Clients differ on tables; a preformatted block reads the same everywhere.
  return `<pre>${escapeHtml(textTable(header, rows))}</pre>`;
}

export const matrixHtml: MarkdownRenderer = {
  text: escapeHtml,
  strong: (inner) => `<strong>${inner}</strong>`,
  em: (inner) => `<em>${inner}</em>`,
  del: (inner) => `<del>${inner}</del>`,
  codespan: (code) => `<code>${escapeHtml(code)}</code>`,
  link: (href, inner) => link(href, inner),
  image: (href, alt) => link(href, escapeHtml(alt)),
  br: () => '<br/>',
  paragraph: (inner) => `<p>${inner}</p>`,
  heading: (inner, depth) => `<h${Math.min(6, Math.max(1, depth))}>${inner}</h${Math.min(6, Math.max(1, depth))}>`,
  code: (code, lang) => {
    const language = lang?.match(/^[\w+#.-]{1,32}$/)?.[0];
    return language === undefined ? `<pre><code>${escapeHtml(code)}</code></pre>` : `<pre><code class="language-${language}">${escapeHtml(code)}</code></pre>`;
  },
  blockquote: (inner) => `<blockquote>${inner}</blockquote>`,
  list: (items, ordered, start) => {
    const open = ordered ? (start === 1 ? '<ol>' : `<ol start="${start}">`) : '<ul>';
    return `${open}\n${items.map((item) => `<li>${item}</li>`).join('\n')}\n${ordered ? '</ol>' : '</ul>'}`;
  },
  hr: () => '<hr/>',
  table,
};

/**
 * The plain text of Matrix HTML: the kit's, with list markers written out ("• ", "3. ") since
 * a body without them would run the items together.
 */
export function plainMatrix(html: string): string {
  const counters: Array<number | null> = [];
  const marked = html.replace(/<(\/?)(ul|ol|li)(\s[^<>]*)?>/g, (tag, close: string, name: string, attrs: string | undefined) => {
    if (name === 'li') {
      if (close === '/') return tag;
      const top = counters.length > 0 ? counters[counters.length - 1] : null;
      if (top === null || top === undefined) return `${tag}• `;
      counters[counters.length - 1] = top + 1;
      return `${tag}${top}. `;
    }
    if (close === '/') counters.pop();
    else counters.push(name === 'ol' ? Number(/start="(\d+)"/.exec(attrs ?? '')?.[1] ?? 1) : null);
    return tag;
  });
  return htmlMarkup.plain(marked).replace(/\n{3,}/g, '\n\n').trim();
}

const matrixMarkup: Markup = { ...htmlMarkup, plain: plainMatrix };

/** UTF-8 bytes of a string as it travels inside the event's JSON. */
export function jsonBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8');
}

export function renderMatrix(markdown: string): string {
  return renderMarkdown(markdown, matrixHtml);
}

/**
 * Chunks whose HTML and plain text are both within `limit` bytes. The kit counts UTF-16 code
 * units; a chunk over the byte limit (non-Latin text, escapes) is cut again, smaller.
 */
function fit(html: string, limit: number, budget: number, depth = 0): Array<{ text: string; plain: string }> {
  const out: Array<{ text: string; plain: string }> = [];
  for (const chunk of chunkRendered(html, budget, matrixMarkup)) {
    const bytes = Math.max(jsonBytes(chunk.text), jsonBytes(chunk.plain));
    if (bytes <= limit || depth > 6) out.push(chunk);
    else out.push(...fit(chunk.text, limit, Math.max(64, Math.floor((budget * limit) / bytes) - 16), depth + 1));
  }
  return out;
}

/**
 * A reply as parts: `text` is the formatted_body, `plain` the body. A part whose HTML says no
 * more than its text (a single plain paragraph) is marked `plainOnly`: it is sent without a
 * formatted_body, as clients themselves send plain messages.
 */
export function renderParts(markdown: string, limit: number): RenderedPart[] {
  const html = renderMatrix(markdown);
  if (html.trim() === '') return [];
  return fit(html, limit, limit)
    .filter((chunk) => chunk.plain.trim() !== '')
    .map((chunk) => {
      const bare = chunk.text.replace(/^<p>|<\/p>$/g, '');
      const plainOnly = !/[<>]/.test(bare) && !bare.includes('&');
      return { text: chunk.text, plain: chunk.plain, extra: { format: plainOnly ? 'plain' : 'html' } };
    });
}
