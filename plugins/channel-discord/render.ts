/**
 * Markdown replies as Discord markdown. Discord reads most of Markdown itself, so the
 * renderer mostly writes it back out with literal text escaped; what Discord has no syntax for
 * (tables, rules, nested quotes) is degraded. Links keep Discord's own `[label](url)` form, and
 * any link but http(s) is written out as text (Discord would show it as text anyway).
 */
import { chunkRendered, fencedMarkup, quoteLines, renderMarkdown, textTable, type MarkdownRenderer } from 'pincer/channel-kit';
import type { RenderedPart } from 'pincer/plugin';

/** Characters Discord reads as markup: escaped in literal text so a model's `2*3*4` stays itself. */
const SYNTAX = /[\\*_~`>|[\]]/g;

export function escapeDiscord(text: string): string {
  return text.replace(SYNTAX, (c) => `\\${c}`);
}

/** The longest fence inside the code decides the fence around it, so the code cannot close it. */
function fence(code: string): string {
  const longest = Math.max(2, ...[...code.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(longest + 1);
}

function codespan(code: string): string {
  if (!code.includes('`')) return `\`${code}\``;
  return `\`\` ${code.replace(/``+/g, (m) => m.split('').join('\u200b'))} \`\``;
}

function link(href: string, inner: string): string {
  if (!/^https?:\/\//i.test(href) || /[\s()]/.test(href)) return inner === '' ? escapeDiscord(href) : `${inner} (${escapeDiscord(href)})`;
  return inner === '' ? `<${href}>` : `[${inner}](<${href}>)`;
}

function table(header: string[], rows: string[][]): string {
  const body = textTable(header, rows);
  const f = fence(body);
  return `${f}\n${body}\n${f}`;
}

export const discordMarkdown: MarkdownRenderer = {
  text: escapeDiscord,
  strong: (inner) => `**${inner}**`,
  em: (inner) => `*${inner}*`,
  del: (inner) => `~~${inner}~~`,
  codespan,
  link: (href, inner) => link(href, inner),
  image: (href, alt) => link(href, escapeDiscord(alt)),
  br: () => '\n',
  paragraph: (inner) => inner,
  heading: (inner) => `**${inner}**`,
  code: (code, lang) => {
    const language = lang?.match(/^[\w+#.-]{1,32}$/)?.[0] ?? '';
    const f = fence(code);
    return `${f}${language}\n${code.replace(/\n$/, '')}\n${f}`;
  },
  // Discord quotes line by line.
  blockquote: quoteLines,
  list: (items, ordered, start) =>
    items.map((item, i) => (ordered ? `${start + i}. ` : '• ') + (item.includes('```') ? item : item.replace(/\n/g, '\n  '))).join('\n'),
  hr: () => '——————',
  table,
};

export function renderDiscord(markdown: string): string {
  return renderMarkdown(markdown, discordMarkdown);
}

/** A reply as parts of at most `limit` characters; a reply with no visible text has none. */
export function renderParts(markdown: string, limit: number): RenderedPart[] {
  return chunkRendered(renderDiscord(markdown), limit, fencedMarkup).map((chunk) => ({ text: chunk.text, plain: chunk.plain }));
}
