/**
 * Markdown replies in WhatsApp's markup: *bold*, _italic_, ~strike~, `inline code` and
 * ```monospace``` blocks, "> " quotes. What WhatsApp has no markup for is degraded: headings
 * are bold, lists "• " and "1. " lines, tables a monospace block, links "label (url)" (WhatsApp
 * links bare URLs itself). WhatsApp has no escape for its markers, so a literal "*" in prose
 * stays as written. Parts are cut within the limit with the kit's fenced markup, so a code
 * block split in two is closed and reopened.
 */
import { chunkRendered, fencedMarkup, renderMarkdown, textTable, type MarkdownRenderer } from 'pincer/channel-kit';
import type { RenderedPart } from 'pincer/plugin';

function link(href: string, inner: string): string {
  if (inner === '' || inner === href || `mailto:${inner}` === href) return href;
  return `${inner} (${href})`;
}

function table(header: string[], rows: string[][]): string {
  return '```\n' + textTable(header, rows) + '\n```';
}

function list(items: string[], ordered: boolean, start: number): string {
  return items
    .map((item, i) => {
      const marker = ordered ? `${start + i}. ` : '• ';
      const body = item.includes('```') ? item : item.replace(/\n/g, '\n  ');
      return marker + body;
    })
    .join('\n');
}

/** Markers hug the text on both sides, or WhatsApp shows them literally: spaces move outside. */
function wrap(marker: string, inner: string): string {
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(inner)!;
  return m[2] === '' ? inner : `${m[1]}${marker}${m[2]}${marker}${m[3]}`;
}

export const whatsappMarkup: MarkdownRenderer = {
  text: (t) => t,
  strong: (inner) => wrap('*', inner),
  em: (inner) => wrap('_', inner),
  del: (inner) => wrap('~', inner),
  codespan: (code) => '`' + code.replace(/`/g, "'") + '`',
  link: (href, inner) => link(href, inner),
  image: (href, alt) => link(href, alt),
  br: () => '\n',
  paragraph: (inner) => inner,
  heading: (inner) => wrap('*', inner),
  code: (code) => '```\n' + code.replace(/```/g, "'''") + '\n```',
  blockquote: (inner) =>
    inner
      .split('\n')
      .map((line) => `> ${line}`)
      .join('\n'),
  list,
  hr: () => '——————',
  table,
};

export function renderWhatsApp(markdown: string): string {
  return renderMarkdown(markdown, whatsappMarkup);
}

/** A reply as text messages within the limit; a reply with no visible text has none (WhatsApp refuses an empty body). */
export function renderParts(markdown: string, limit: number): RenderedPart[] {
  const rendered = renderWhatsApp(markdown);
  if (rendered.trim() === '') return [];
  return chunkRendered(rendered, limit, fencedMarkup)
    .filter((chunk) => chunk.text.trim() !== '')
    .map((chunk) => ({ text: chunk.text, plain: chunk.plain }));
}
