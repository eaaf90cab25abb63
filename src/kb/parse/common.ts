import { PincerError } from '../../errors.js';
import type { KbSection } from '../types.js';

/**
 * What every parser shares: the file's text with one line ending, a coded error that names the
 * file (and the line or page), and cutting a run of lines into a section whose `text` starts
 * and ends on the lines its `lineStart`/`lineEnd` name, so line i of the text is lineStart + i
 * (the chunker relies on this to number the lines of its pieces).
 */

/** UTF-8 text with the byte order mark dropped and every line ending as `\n`. */
export function decodeText(bytes: Buffer): string {
  return normalizeText(bytes.toString('utf8'));
}

export function normalizeText(text: string): string {
  return text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
}

/** `KB_PARSE_FAILED` naming the file and, when known, where in it. */
export function parseFailed(name: string, what: string, where?: { line?: number; page?: number }): PincerError {
  const at = where?.line !== undefined ? `:${where.line}` : where?.page !== undefined ? ` (page ${where.page})` : '';
  return new PincerError('KB_PARSE_FAILED', `${name}${at}: ${what}`, { file: name, ...where });
}

/** The file's name without folders or extension: the title of a document that names none. */
export function baseTitle(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? name;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** 1-based line numbers of character offsets in a text. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  /** The line the character at `offset` is on. */
  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/**
 * The part of `text` between two offsets with its blank lines at either end cut off (but not
 * the indentation of its first line), and the lines it spans (`firstLine` is the number of
 * the text's line 1); null when nothing but white space is left.
 */
export function lineSpan(
  text: string,
  lines: LineIndex,
  from: number,
  to: number,
  firstLine = 1,
): { text: string; lineStart: number; lineEnd: number } | null {
  const slice = text.slice(from, to);
  const lead = /^(?:[ \t]*\n)*/.exec(slice)?.[0].length ?? 0;
  const body = slice.slice(lead).replace(/\s+$/, '');
  if (body.trim() === '') return null;
  const start = from + lead;
  return {
    text: body,
    lineStart: lines.lineOf(start) + firstLine - 1,
    lineEnd: lines.lineOf(start + body.length - 1) + firstLine - 1,
  };
}

export function section(headingPath: string[], span: { text: string; lineStart: number; lineEnd: number }): KbSection {
  return { headingPath: [...headingPath], text: span.text, lineStart: span.lineStart, lineEnd: span.lineEnd, page: null };
}
