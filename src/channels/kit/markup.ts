/**
 * The markups the chunker knows: HTML (Telegram, Matrix) and Markdown-like text with code
 * fences (Discord, Slack, WhatsApp). Each says where its tags and entities are, so a split
 * never lands inside one, and how an element cut by a split is closed.
 */
import type { Markup, MarkupUnit, OpenElement } from './chunk.js';
import { decodeEntities } from './markdown.js';

/** Escape text for HTML content: Telegram wants exactly these three. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escape an attribute value written in double quotes. */
export function escapeHtmlAttribute(text: string): string {
  return escapeHtml(text).replace(/"/g, '&quot;');
}

const HTML_TOKEN = /<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*)?(\/?)>|&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});/g;
const VOID_TEXT: Record<string, string> = { br: '\n', hr: '\n', img: '', wbr: '' };

function scanHtml(rendered: string): MarkupUnit[] {
  const units: MarkupUnit[] = [];
  let last = 0;
  for (const m of rendered.matchAll(HTML_TOKEN)) {
    if (m.index > last) units.push({ kind: 'text', text: rendered.slice(last, m.index) });
    const raw = m[0];
    const name = m[2]?.toLowerCase();
    if (name === undefined) units.push({ kind: 'entity', raw, text: decodeEntities(raw) });
    else if (m[1] === '/') units.push({ kind: 'close', name, raw });
    else if (m[3] === '/' || name in VOID_TEXT) units.push({ kind: 'void', raw, text: VOID_TEXT[name] ?? '' });
    else units.push({ kind: 'open', name, raw });
    last = m.index + raw.length;
  }
  if (last < rendered.length) units.push({ kind: 'text', text: rendered.slice(last) });
  return units;
}

function hrefOf(openTag: string): string | undefined {
  const m = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(openTag);
  const value = m?.[1] ?? m?.[2] ?? m?.[3];
  return value === undefined ? undefined : decodeEntities(value);
}

/**
 * Visible text of HTML. A link keeps its address after the label ("label (url)") unless the
 * label is the address, so a plain-text fallback loses no destination.
 */
function plainHtml(rendered: string): string {
  let out = '';
  const links: Array<{ href: string | undefined; start: number }> = [];
  for (const unit of scanHtml(rendered)) {
    if (unit.kind === 'text') out += unit.text;
    else if (unit.kind === 'entity' || unit.kind === 'void') out += unit.text;
    else if (unit.name === 'a' && unit.kind === 'open') links.push({ href: hrefOf(unit.raw), start: out.length });
    else if (unit.name === 'a' && unit.kind === 'close') {
      const link = links.pop();
      if (link?.href !== undefined && link.href !== '' && out.slice(link.start).trim() !== link.href) out += ` (${link.href})`;
    }
  }
  return out;
}

/** HTML as Telegram and Matrix take it: links are never split, `<pre>` keeps its whitespace. */
export const htmlMarkup: Markup = {
  scan: scanHtml,
  close: (open: OpenElement) => `</${open.name}>`,
  atomic: (name) => name === 'a',
  preformatted: (name) => name === 'pre',
  plain: plainHtml,
};

// ---- Markdown-like markup: code fences, inline code and links --------------------------------

const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})[^`\n]*$/;
const INLINE = /`[^`\n]+`|\[[^\]\n]*\]\([^()\s]+\)|<(?:https?|mailto):[^<>\s|]+(?:\|[^<>\n]*)?>/g;

function scanInline(text: string, units: MarkupUnit[]): void {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) units.push({ kind: 'text', text: text.slice(last, m.index) });
    const raw = m[0];
    if (raw.startsWith('`')) {
      units.push({ kind: 'open', name: 'code', raw: '`' }, { kind: 'text', text: raw.slice(1, -1) }, { kind: 'close', name: 'code', raw: '`' });
    } else {
      // A link is one unit: never split, shown as its label and address.
      const md = /^\[([^\]]*)\]\(([^)]*)\)$/.exec(raw);
      const slack = /^<([^|>]*)(?:\|([^>]*))?>$/.exec(raw);
      const label = md?.[1] ?? slack?.[2] ?? slack?.[1] ?? raw;
      const url = md?.[2] ?? slack?.[1] ?? '';
      units.push({ kind: 'void', raw, text: label === url || url === '' ? label : `${label} (${url})` });
    }
    last = m.index + raw.length;
  }
  if (last < text.length) units.push({ kind: 'text', text: text.slice(last) });
}

function scanFenced(rendered: string): MarkupUnit[] {
  const units: MarkupUnit[] = [];
  let fence: string | undefined;
  let prose = '';
  const flush = (): void => {
    if (prose !== '') scanInline(prose, units);
    prose = '';
  };
  const lines = rendered.split('\n');
  lines.forEach((line, i) => {
    const nl = i < lines.length - 1 ? '\n' : '';
    const m = FENCE_LINE.exec(line);
    if (fence === undefined && m !== null) {
      flush();
      fence = m[1]!;
      units.push({ kind: 'open', name: 'fence', raw: line + nl });
    } else if (fence !== undefined && m !== null && line.trim() === fence) {
      units.push({ kind: 'close', name: 'fence', raw: line }, ...(nl === '' ? [] : [{ kind: 'text' as const, text: nl }]));
      fence = undefined;
    } else if (fence !== undefined) units.push({ kind: 'text', text: line + nl });
    else prose += line + nl;
  });
  flush();
  return units;
}

/**
 * Markdown-like platform text (Discord, Slack mrkdwn, WhatsApp): code fences are closed and
 * reopened across a split, inline code and links are kept whole. Emphasis markers are not
 * tracked: a split between `*` and `*` is possible (only at a space or line, never mid-word).
 */
export const fencedMarkup: Markup = {
  scan: scanFenced,
  close: (open: OpenElement) => (open.name === 'fence' ? `\n${/(`{3,}|~{3,})/.exec(open.raw)?.[1] ?? '```'}` : '`'),
  atomic: () => false,
  preformatted: (name) => name === 'fence' || name === 'code',
  plain: (rendered) =>
    scanFenced(rendered)
      .map((unit) => (unit.kind === 'text' || unit.kind === 'entity' || unit.kind === 'void' ? unit.text : ''))
      .join(''),
};
