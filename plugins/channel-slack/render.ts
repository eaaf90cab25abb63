/**
 * Markdown replies as Slack mrkdwn: `*bold*`, `_italic_`, `~strike~`, code spans and fences,
 * `<url|label>` links, `>` quotes. Slack has no escape for its emphasis markers (it reads them
 * only at word edges, so a model's `2*3*4` stays itself); `& < >` are escaped as the Web API
 * asks, which also keeps a model from writing `<!channel>` or a `<@user>` mention.
 * Buttons go in Block Kit: a section with the part's text, then an actions block.
 */
import { chunkRendered, fencedMarkup, quoteLines, renderMarkdown, textTable, type MarkdownRenderer } from 'pincer/channel-kit';
import type { JsonObject, RenderedPart, ReplyButton } from 'pincer/plugin';

export function escapeSlack(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

/** Slack has no escape inside a fence: a ``` in the code is broken with a zero-width space. */
function fenced(code: string): string {
  return `\`\`\`\n${escapeSlack(code.replace(/\n$/, '')).replace(/```/g, '`\u200b``')}\n\`\`\``;
}

function link(href: string, inner: string): string {
  const safe = /^(https?:\/\/|mailto:)/i.test(href) && !/[\s|<>]/.test(href);
  if (!safe) return inner === '' ? escapeSlack(href) : `${inner} (${escapeSlack(href)})`;
  return inner === '' || inner === escapeSlack(href) ? `<${href}>` : `<${href}|${inner}>`;
}

export const slackMrkdwn: MarkdownRenderer = {
  text: escapeSlack,
  strong: (inner) => `*${inner}*`,
  em: (inner) => `_${inner}_`,
  del: (inner) => `~${inner}~`,
  codespan: (code) => `\`${escapeSlack(code).replace(/`/g, 'ˋ')}\``,
  link: (href, inner) => link(href, inner),
  image: (href, alt) => link(href, escapeSlack(alt)),
  br: () => '\n',
  paragraph: (inner) => inner,
  heading: (inner) => `*${inner}*`,
  code: (code) => fenced(code),
  blockquote: quoteLines,
  list: (items, ordered, start) =>
    items.map((item, i) => (ordered ? `${start + i}. ` : '• ') + (item.includes('```') ? item : item.replace(/\n/g, '\n    '))).join('\n'),
  hr: () => '———',
  table: (header, rows) => fenced(textTable(header, rows)),
};

export function renderSlack(markdown: string): string {
  return renderMarkdown(markdown, slackMrkdwn);
}

/** Block Kit limits: a button's text is at most 75 characters, its value 2,000. */
const BUTTON_LABEL = 75;

export function buttonBlocks(text: string, buttons: readonly ReplyButton[]): JsonObject[] {
  return [
    { type: 'section', text: { type: 'mrkdwn', text } },
    {
      type: 'actions',
      block_id: 'pincer_buttons',
      elements: buttons.map((b, i) => ({
        type: 'button',
        action_id: `pincer_button_${i}`,
        text: { type: 'plain_text', text: [...b.label].slice(0, BUTTON_LABEL).join(''), emoji: true },
        value: b.value,
      })),
    },
  ];
}

/**
 * A reply as parts of at most `limit` characters; with buttons, the last part carries them
 * as blocks (its text then within a section's 3,000). No visible text, no parts.
 */
export function renderParts(markdown: string, limit: number, buttons?: readonly ReplyButton[]): RenderedPart[] {
  const chunks = chunkRendered(renderSlack(markdown), buttons ? Math.min(limit, 3000) : limit, fencedMarkup);
  return chunks.map((chunk, i) => ({
    text: chunk.text,
    plain: chunk.plain,
    ...(buttons && i === chunks.length - 1 ? { extra: { blocks: buttonBlocks(chunk.text, buttons) } } : {}),
  }));
}
