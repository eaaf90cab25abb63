import type { KbSection, ParsedDocument } from '../types.js';
import { baseTitle, LineIndex, lineSpan, normalizeText } from './common.js';

/**
 * Plain text: paragraphs (runs of lines between blank lines) grouped under the heading they
 * follow. A heading is a line underlined with `===` (level 1) or `---` (level 2) of at least
 * three characters, as in setext Markdown and many README/FAQ texts. The first level-1 heading
 * is the title, else the file name. No other markup is read.
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
    const level = under !== undefined && isHeadingLine(line, lines[i - 1]) ? underlineLevel(under) : 0;
    if (level === 0) continue;
    close(start);
    const heading = line.trim();
    path.length = Math.min(path.length, level - 1);
    path.push(heading);
    if (level === 1 && title === undefined) title = heading;
    i++;
    offset += (under ?? '').length + 1;
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

function underlineLevel(line: string): number {
  if (/^ {0,3}={3,}[ \t]*$/.test(line)) return 1;
  if (/^ {0,3}-{3,}[ \t]*$/.test(line)) return 2;
  return 0;
}
