import TurndownService from 'turndown';
import { strikethrough, tables } from 'turndown-plugin-gfm';
import type { ParsedDocument } from '../types.js';
import { normalizeText } from './common.js';
import { parseMarkdown } from './markdown.js';

/**
 * HTML as Markdown (turndown 7, with GFM tables so a table stays one block the chunker keeps
 * whole), then read as Markdown: sections by heading. A page with one <main> is read from it
 * alone. What is the same on every page and answers nothing is dropped: scripts, styles, page
 * headers and footers, navigation (<nav>, a navigation role, the navheader/navfooter/toc
 * classes of DocBook and the like); an image becomes its alt text.
 *
 * The line numbers are those of the converted Markdown, not of the HTML source, so an HTML
 * citation points to a section (its heading path), not to a source line. The title is the
 * page's <title>, else its first <h1>, else the file name.
 */
export function parseHtml(source: string, name: string): ParsedDocument {
  const html = normalizeText(source);
  const doc = parseMarkdown(htmlToMarkdown(mainPart(html)), name, 'html');
  const title = htmlTitle(html);
  if (title) doc.title = title;
  return doc;
}

const DROPPED = ['script', 'style', 'noscript', 'template', 'nav', 'header', 'footer', 'head', 'title', 'iframe', 'object', 'embed'] as const;

/** Navigation by role or by a class generators use for it (DocBook's navheader, say), though no <nav>. */
const NAV_ROLES = new Set(['navigation', 'banner', 'contentinfo', 'search']);
const NAV_CLASSES = new Set(['nav', 'navbar', 'navheader', 'navfooter', 'breadcrumb', 'breadcrumbs', 'skip-link', 'toc']);

interface Attributes {
  getAttribute(name: string): string | null;
}

function isNavigation(node: unknown): boolean {
  const el = node as Attributes;
  if (typeof el.getAttribute !== 'function') return false;
  if (NAV_ROLES.has((el.getAttribute('role') ?? '').toLowerCase())) return true;
  return (el.getAttribute('class') ?? '').toLowerCase().split(/\s+/).some((c) => NAV_CLASSES.has(c));
}

export function htmlToMarkdown(html: string): string {
  const service = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-', hr: '---' });
  service.use([tables, strikethrough]);
  service.remove([...DROPPED]);
  service.remove((node) => isNavigation(node));
  // An image is its alt text: its address answers nothing and only adds noise words.
  service.addRule('image-alt', { filter: 'img', replacement: (_content, node) => ((node as unknown as Attributes).getAttribute('alt') ?? '').trim() });
  return service.turndown(html);
}

/** The page's one <main> element when it has exactly one (the rest is chrome), else the whole page. */
function mainPart(html: string): string {
  const opens = html.match(/<main\b/gi) ?? [];
  if (opens.length !== 1) return html;
  const match = /<main\b[^>]*>([\s\S]*)<\/main\s*>/i.exec(html);
  return match ? (match[1] ?? html) : html;
}

function htmlTitle(html: string): string | undefined {
  const match = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html);
  const title = match ? decodeEntities(match[1] ?? '').replace(/\s+/g, ' ').trim() : '';
  return title === '' ? undefined : title;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** The character references a <title> commonly holds (the converter decodes the body's itself). */
function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED[ref.toLowerCase()] ?? whole;
  });
}
