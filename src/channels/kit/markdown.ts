/**
 * Markdown in, a platform's markup out. Replies are Markdown (what models write); each channel
 * renders the same token tree into its own markup through a `MarkdownRenderer`, a visitor that
 * says how each construct looks. The walk (nesting, lists, tables, entities) lives here once.
 */
import { lexer, type Token, type Tokens } from 'marked';

export type MarkdownToken = Token;

/** How one platform writes each Markdown construct. `inner` arguments are already rendered. */
export interface MarkdownRenderer {
  /** Literal text: escape what the markup would read as syntax. */
  text(text: string): string;
  strong(inner: string): string;
  em(inner: string): string;
  del(inner: string): string;
  /** `code` is the literal code, not escaped yet. */
  codespan(code: string): string;
  link(href: string, inner: string, label: string): string;
  /** Most platforms cannot inline an image in text: a link is the usual answer. */
  image(href: string, alt: string): string;
  /** A hard line break inside a paragraph. */
  br(): string;
  paragraph(inner: string): string;
  heading(inner: string, depth: number): string;
  /** `code` is the literal block, not escaped yet. */
  code(code: string, lang: string | undefined): string;
  blockquote(inner: string): string;
  /** Each item is rendered (a nested list inside it included) and may span lines. */
  list(items: string[], ordered: boolean, start: number): string;
  hr(): string;
  /** Cells as plain text, not escaped: few platforms have tables, most render them as a block. */
  table(header: string[], rows: string[][]): string;
  /** Between two blocks; default a blank line. */
  readonly blockSeparator?: string;
}

/** GitHub-flavoured Markdown, as models write it. */
export function lexMarkdown(markdown: string): MarkdownToken[] {
  return lexer(markdown, { gfm: true, breaks: false });
}

export function renderMarkdown(source: string | MarkdownToken[], renderer: MarkdownRenderer): string {
  const tokens = typeof source === 'string' ? lexMarkdown(source) : source;
  return renderBlocks(tokens, renderer);
}

/** The visible text of inline tokens: what a reader sees, without any markup. */
export function plainInline(tokens: MarkdownToken[]): string {
  let out = '';
  for (const token of tokens) {
    const t = token as Tokens.Generic;
    if (t.type === 'br') out += '\n';
    // Code shows entity references literally (CommonMark), so only prose is decoded.
    else if (t.type === 'codespan' || t.type === 'escape') out += String(t['text'] ?? '');
    else if (t.type === 'image') out += String(t['text'] ?? '');
    else if (Array.isArray(t.tokens)) out += plainInline(t.tokens);
    else if (t.type === 'html') out += t.raw;
    else out += decodeEntities(String(t['text'] ?? t.raw));
  }
  return out;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/**
 * Markdown text keeps entity references as written ("&amp;"); CommonMark shows them as the
 * character, so the renderer gets the character and escapes it for its own markup.
 */
export function decodeEntities(text: string): string {
  return text.replace(/&(#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (whole, name: string) => {
    if (name.startsWith('#')) {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[name] ?? whole;
  });
}

function renderBlocks(tokens: MarkdownToken[], r: MarkdownRenderer): string {
  const blocks: string[] = [];
  for (const token of tokens) {
    const out = renderBlock(token, r);
    if (out !== '') blocks.push(out);
  }
  return blocks.join(r.blockSeparator ?? '\n\n');
}

function renderBlock(token: MarkdownToken, r: MarkdownRenderer): string {
  const t = token as Tokens.Generic;
  switch (t.type) {
    case 'space':
    case 'def':
      return '';
    case 'paragraph':
      return r.paragraph(renderInline(t.tokens ?? [], r));
    case 'heading':
      return r.heading(renderInline(t.tokens ?? [], r), Number(t['depth'] ?? 1));
    case 'code':
      return r.code(String(t['text'] ?? '').replace(/\n+$/, ''), (t['lang'] as string | undefined) || undefined);
    case 'blockquote':
      return r.blockquote(renderBlocks(t.tokens ?? [], r));
    case 'list':
      return renderList(token as Tokens.List, r);
    case 'hr':
      return r.hr();
    case 'table': {
      const table = token as Tokens.Table;
      return r.table(
        table.header.map((cell) => plainInline(cell.tokens)),
        table.rows.map((row) => row.map((cell) => plainInline(cell.tokens))),
      );
    }
    case 'html':
      // Raw HTML in a reply is shown as written: passing it through would let model output inject markup.
      return r.paragraph(r.text(t.raw.replace(/\n+$/, '')));
    case 'text':
      // Block-level text appears inside tight list items.
      return Array.isArray(t.tokens) ? renderInline(t.tokens, r) : r.text(decodeEntities(String(t['text'] ?? t.raw)));
    default:
      return Array.isArray(t.tokens) ? renderBlocks(t.tokens, r) : r.paragraph(r.text(t.raw.trim()));
  }
}

function renderList(list: Tokens.List, r: MarkdownRenderer): string {
  const items = list.items.map((item) => {
    const parts: string[] = [];
    let box = '';
    for (const child of item.tokens) {
      if (child.type === 'checkbox') box = child.checked ? '[x] ' : '[ ] ';
      else {
        const out = renderBlock(child, r);
        if (out !== '') parts.push(out);
      }
    }
    const body = parts.join(item.loose ? (r.blockSeparator ?? '\n\n') : '\n');
    return box === '' ? body : r.text(box) + body;
  });
  return r.list(items, list.ordered, typeof list.start === 'number' ? list.start : 1);
}

function renderInline(tokens: MarkdownToken[], r: MarkdownRenderer): string {
  let out = '';
  for (const token of tokens) {
    const t = token as Tokens.Generic;
    switch (t.type) {
      case 'strong':
        out += r.strong(renderInline(t.tokens ?? [], r));
        break;
      case 'em':
        out += r.em(renderInline(t.tokens ?? [], r));
        break;
      case 'del':
        out += r.del(renderInline(t.tokens ?? [], r));
        break;
      case 'codespan':
        out += r.codespan(String(t['text'] ?? ''));
        break;
      case 'link': {
        const inner = t.tokens ?? [];
        out += r.link(String(t['href'] ?? ''), renderInline(inner, r), plainInline(inner));
        break;
      }
      case 'image':
        out += r.image(String(t['href'] ?? ''), String(t['text'] ?? ''));
        break;
      case 'br':
        out += r.br();
        break;
      case 'escape':
        out += r.text(String(t['text'] ?? ''));
        break;
      case 'html':
        out += r.text(t.raw);
        break;
      default:
        out += Array.isArray(t.tokens) ? renderInline(t.tokens, r) : r.text(decodeEntities(String(t['text'] ?? t.raw)));
    }
  }
  return out;
}
