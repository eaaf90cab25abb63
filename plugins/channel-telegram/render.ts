/**
 * Markdown replies as Telegram HTML (parse_mode HTML): only <, > and & escaped, only the tags
 * Telegram takes (b, i, s, code, pre, a href, blockquote). What Telegram has no tag for is
 * degraded: headings are bold, lists are "• " and "1. " lines, tables a <pre> block, images a
 * link, a rule a line of dashes. Then the text is cut into parts within the account's limit.
 */
import { chunkRendered, escapeHtml, escapeHtmlAttribute, htmlMarkup, renderMarkdown, textTable, type MarkdownRenderer } from 'pincer/channel-kit';
import type { RenderedPart } from 'pincer/plugin';

/** Schemes Telegram turns into links; anything else (javascript:) stays visible text. */
const LINKABLE = /^(https?|tg|mailto):/i;
/** A longer address would crowd a part; it is written out as text instead. */
const MAX_HREF = 1024;

function link(href: string, inner: string): string {
  const label = inner === '' ? escapeHtml(href) : inner;
  if (!LINKABLE.test(href) || href.length > MAX_HREF) return inner === '' ? label : `${label} (${escapeHtml(href)})`;
  return `<a href="${escapeHtmlAttribute(href)}">${label}</a>`;
}

/** Telegram refuses a blockquote inside a blockquote: the inner ones lose their tags. */
function flatQuote(inner: string): string {
  return `<blockquote>${inner.replace(/<\/?blockquote>/g, '')}</blockquote>`;
}

function table(header: string[], rows: string[][]): string {
  return `<pre>${escapeHtml(textTable(header, rows))}</pre>`;
}

function list(items: string[], ordered: boolean, start: number): string {
  return items
    .map((item, i) => {
      const marker = ordered ? `${start + i}. ` : '• ';
      // Continuation lines (a nested list) are indented under the item, except inside code.
      const body = item.includes('<pre') ? item : item.replace(/\n/g, '\n  ');
      return marker + body;
    })
    .join('\n');
}

export const telegramHtml: MarkdownRenderer = {
  text: escapeHtml,
  strong: (inner) => `<b>${inner}</b>`,
  em: (inner) => `<i>${inner}</i>`,
  del: (inner) => `<s>${inner}</s>`,
  codespan: (code) => `<code>${escapeHtml(code)}</code>`,
  link: (href, inner) => link(href, inner),
  image: (href, alt) => link(href, escapeHtml(alt)),
  br: () => '\n',
  paragraph: (inner) => inner,
  heading: (inner) => `<b>${inner}</b>`,
  code: (code, lang) => {
    const language = lang?.match(/^[\w+#.-]{1,32}$/)?.[0];
    return language === undefined
      ? `<pre><code>${escapeHtml(code)}</code></pre>`
      : `<pre><code class="language-${language}">${escapeHtml(code)}</code></pre>`;
  },
  blockquote: flatQuote,
  list,
  hr: () => '——————',
  table,
};

export function renderTelegram(markdown: string): string {
  return renderMarkdown(markdown, telegramHtml);
}

/** The text of a reply that is only buttons: Telegram sends no message without text. */
export const BUTTONS_ONLY_TEXT = 'Choose one:';

/**
 * A reply as parts for sendMessage with parse_mode HTML, each with its plain-text fallback.
 * A reply with no visible text has no parts (Telegram refuses an empty message).
 */
export function renderParts(markdown: string, limit: number): RenderedPart[] {
  return chunkRendered(renderTelegram(markdown), limit, htmlMarkup).map((chunk) => ({
    text: chunk.text,
    plain: chunk.plain,
    extra: { parse_mode: 'HTML' },
  }));
}
