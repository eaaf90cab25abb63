/**
 * Markdown replies in WhatsApp's markup: *bold*, _italic_, ~strike~, `inline code` and
 * ```monospace``` blocks, "> " quotes. What WhatsApp has no markup for is degraded: headings
 * are bold, lists "• " and "1. " lines, tables a monospace block, links "label (url)" (WhatsApp
 * links bare URLs itself). WhatsApp has no escape for its markers, so a literal "*" in prose
 * stays as written. Parts are cut within the limit with the kit's fenced markup, so a code
 * block split in two is closed and reopened.
 *
 * A reply with buttons ends in an interactive message: up to 3 as reply buttons, 4 to 10 as a
 * list behind one "Choose" button. Its body takes at most 1,024 characters, so a longer last
 * part is cut again to fit; labels are shortened to Meta's limits with "…".
 */
import { chunkRendered, fencedMarkup, renderMarkdown, textTable, type MarkdownRenderer } from 'pincer/channel-kit';
import type { JsonObject, RenderedPart, ReplyButton } from 'pincer/plugin';

/** Meta's limits for interactive messages, in characters (code points). */
export const INTERACTIVE = { body: 1024, buttons: 3, buttonTitle: 20, rows: 10, rowTitle: 24, rowDescription: 72, listButton: 20, id: 256 } as const;
/** The list's one button, which opens the rows. */
export const LIST_BUTTON = 'Choose';
/** WhatsApp refuses an interactive message without a body: a reply that is only buttons gets this. */
export const BUTTONS_ONLY_BODY = 'Choose one:';

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

/** `text` in at most `max` code points, its end replaced by "…" when cut. */
export function shorten(text: string, max: number): string {
  const points = [...text];
  return points.length <= max ? text : points.slice(0, max - 1).join('') + '…';
}

/**
 * The `interactive` object of a message with these buttons, without its body (the part's text
 * goes there at send). Ids are the buttons' values, so a press comes back as the value.
 * Reply buttons need distinct titles: when shortening makes two alike, a list is used, whose
 * rows show the whole label as their description.
 */
export function interactiveOf(buttons: readonly ReplyButton[]): JsonObject | undefined {
  const seen = new Set<string>();
  const unique = buttons.filter((b) => !seen.has(b.value) && seen.add(b.value)).slice(0, INTERACTIVE.rows);
  if (unique.length === 0) return undefined;
  const titles = unique.map((b) => shorten(b.label, INTERACTIVE.buttonTitle));
  if (unique.length <= INTERACTIVE.buttons && new Set(titles).size === titles.length) {
    return { type: 'button', action: { buttons: unique.map((b, i) => ({ type: 'reply', reply: { id: b.value, title: titles[i]! } })) } };
  }
  const rows = unique.map((b) => {
    const title = shorten(b.label, INTERACTIVE.rowTitle);
    return { id: b.value, title, ...(title !== b.label && { description: shorten(b.label, INTERACTIVE.rowDescription) }) };
  });
  return { type: 'list', action: { button: LIST_BUTTON, sections: [{ rows }] } };
}

/**
 * A reply as text messages within the limit; a reply with no visible text has none (WhatsApp
 * refuses an empty body), unless it has buttons: then the last part carries them.
 */
export function renderParts(markdown: string, limit: number, buttons: readonly ReplyButton[] = []): RenderedPart[] {
  const rendered = renderWhatsApp(markdown);
  const chunk = (text: string, max: number): RenderedPart[] =>
    chunkRendered(text, max, fencedMarkup)
      .filter((c) => c.text.trim() !== '')
      .map((c) => ({ text: c.text, plain: c.plain }));
  const parts = rendered.trim() === '' ? [] : chunk(rendered, limit);
  const interactive = interactiveOf(buttons);
  if (interactive === undefined) return parts;
  const last = parts.pop() ?? { text: BUTTONS_ONLY_BODY, plain: BUTTONS_ONLY_BODY };
  // The chunker counts UTF-16 units, never more than Meta's code points.
  const tail = last.text.length > INTERACTIVE.body ? chunk(last.text, INTERACTIVE.body) : [last];
  const final = tail.pop()!;
  return [...parts, ...tail, { ...final, extra: { interactive } }];
}
