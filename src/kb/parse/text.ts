import type { KbSection, ParsedDocument } from '../types.js';
import { baseTitle, LineIndex, lineSpan, normalizeText } from './common.js';

/**
 * Plain text: paragraphs (runs of lines between blank lines) grouped under the heading they
 * follow. A heading is a line underlined with `===` (level 1) or `---` (level 2) of at least
 * three characters, as in setext Markdown and many README/FAQ texts. The first level-1 heading
 * is the title, else the file name. A numbered heading standing alone (`1.2. Title`, see
 * numberedLevel) starts a section too. No other markup is read.
 */
export function parseText(source: string, name: string): ParsedDocument {
  const text = normalizeText(source);
  const lines = text.split('\n');
  const index = new LineIndex(text);
  const sections: KbSection[] = [];
  const path: string[] = [];
  let title: string | undefined;
  let offset = 0;
  let bodyFrom = 0;
  const close = (to: number): void => {
    const span = lineSpan(text, index, bodyFrom, to);
    if (span) sections.push({ headingPath: [...path], text: span.text, lineStart: span.lineStart, lineEnd: span.lineEnd, page: null });
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const under = lines[i + 1];
    const start = offset;
    offset += line.length + 1;
    const standsAlone = isHeadingLine(line, lines[i - 1]);
    const underlined = standsAlone && under !== undefined ? underlineLevel(under) : 0;
    const numbered = standsAlone && !underlined ? numberedHeading(lines, i) : null;
    const level = underlined || (numbered?.level ?? 0);
    if (level === 0) continue;
    close(start);
    // The heading's own lines: the underline, or the lines a long numbered heading wraps onto.
    const extra = underlined ? 1 : (numbered?.lines ?? 1) - 1;
    const heading = lines
      .slice(i, i + (underlined ? 1 : extra + 1))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    path.length = Math.min(path.length, level - 1);
    path.push(heading);
    if (level === 1 && underlined === 1 && title === undefined) title = heading;
    for (let k = 1; k <= extra; k++) offset += (lines[i + k] ?? '').length + 1;
    i += extra;
    bodyFrom = Math.min(offset, text.length);
  }
  close(text.length);
  return { title: title ?? baseTitle(name), format: 'text', sections, faqs: [] };
}

/** A heading is a single short line standing alone: a blank line (or the file's start) above it. */
function isHeadingLine(line: string, above: string | undefined): boolean {
  const trimmed = line.trim();
  return trimmed !== '' && trimmed.length <= 200 && (above === undefined || above.trim() === '');
}

const NUMBERED = /^(?:(?:chapter|section|part|appendix)\s+)?(\d+(?:\.\d+)*)\.?\s+\S/i;

/**
 * A numbered heading as text renderings of manuals write them (`1.2. What is Debian?`,
 * `Chapter 3. Choosing`): unindented, perhaps wrapped onto two more unindented lines, a blank
 * line after it, and then either indented text or a numbered heading one level deeper. Its level is its
 * count of numbers (a chapter or part is 1). The blank line and the indented body keep
 * numbered list items (`1. Do this`) from reading as headings.
 */
function numberedHeading(lines: readonly string[], i: number): { level: number; lines: number } | null {
  const line = lines[i] ?? '';
  const match = NUMBERED.exec(line);
  if (!match || /^\s/.test(line)) return null;
  let end = i + 1;
  while (end < i + 3 && /^\S/.test(lines[end] ?? '') && !NUMBERED.test(lines[end] ?? '')) end++;
  if ((lines[end] ?? '').trim() !== '') return null;
  let next = end;
  while (next < lines.length && (lines[next] ?? '').trim() === '') next++;
  const body = lines[next];
  if (body === undefined) return null;
  const level = /^(?:chapter|part)\s/i.test(line) ? 1 : (match[1] ?? '').split('.').length;
  // Right below it, only a heading of a deeper level (1.1. under Chapter 1): a list's "2." is no subheading of "1.".
  const sub = NUMBERED.exec(body);
  const deeper = sub !== null && (/^(?:chapter|part)\s/i.test(line) || (sub[1] ?? '').split('.').length > level);
  if (!/^\s/.test(body) && !deeper) return null;
  return { level, lines: end - i };
}

function underlineLevel(line: string): number {
  if (/^ {0,3}={3,}[ \t]*$/.test(line)) return 1;
  if (/^ {0,3}-{3,}[ \t]*$/.test(line)) return 2;
  return 0;
}
