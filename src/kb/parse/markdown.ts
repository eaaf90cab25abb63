import { Lexer, type Token } from 'marked';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { KbFormat, KbSection, ParsedDocument } from '../types.js';
import { baseTitle, LineIndex, lineSpan, normalizeText, parseFailed, section } from './common.js';

/**
 * Markdown by structure: marked's lexer (so a `#` inside a code fence, a list or a block quote
 * is not a heading), a section per top-level heading (ATX or setext) with the path of headings
 * above it. A section's text is its body without the heading line; its lines are those of the
 * file. Text before the first heading is a section with an empty path.
 *
 * Front matter (a `---` block at the very top, YAML) may give:
 * - `title:` the document's title (else its first H1, else the file name);
 * - `questions:` questions the document answers: a list applies to its first section; a
 *   mapping from a heading's text to a list applies to the section(s) under a heading of that
 *   text (case does not matter; a heading with no text of its own passes them to its first
 *   subsection). A key that names no heading is reported in `problems`.
 */
export function parseMarkdown(source: string, name: string, format: KbFormat = 'markdown'): ParsedDocument {
  const text = normalizeText(source);
  const front = frontMatter(text, name);
  const body = text.slice(front.length);
  const firstLine = front.lines + 1;
  const lines = new LineIndex(body);
  const problems: string[] = [];

  const sections: KbSection[] = [];
  const stack: { depth: number; text: string }[] = [];
  let firstH1: string | undefined;
  let bodyFrom = 0;
  const close = (to: number): void => {
    const span = lineSpan(body, lines, bodyFrom, to, firstLine);
    if (span) sections.push(section(stack.map((h) => h.text), span));
  };
  for (const { token, start, end } of topLevelTokens(body)) {
    if (token.type !== 'heading') continue;
    close(start);
    const depth = token.depth;
    const heading = plainText(token).trim();
    while (stack.length > 0 && (stack[stack.length - 1]?.depth ?? 0) >= depth) stack.pop();
    stack.push({ depth, text: heading });
    if (depth === 1 && firstH1 === undefined && heading !== '') firstH1 = heading;
    bodyFrom = end;
  }
  close(body.length);

  applyQuestions(sections, front.data['questions'], name, problems);
  const declared = front.data['title'];
  const title = typeof declared === 'string' && declared.trim() !== '' ? declared.trim() : (firstH1 ?? baseTitle(name));
  const doc: ParsedDocument = { title, format, sections, faqs: [] };
  if (problems.length > 0) doc.problems = problems;
  return doc;
}

/**
 * The lexer's top-level tokens with their offsets in the source. Their `raw` texts add up to
 * the source; should a marked version ever drop characters between tokens, each raw is looked
 * for from the previous token's end, so offsets (and so line numbers) stay true.
 */
export function topLevelTokens(body: string): { token: Token; start: number; end: number }[] {
  const out: { token: Token; start: number; end: number }[] = [];
  let offset = 0;
  for (const token of Lexer.lex(body, { gfm: true })) {
    const found = body.startsWith(token.raw, offset) ? offset : body.indexOf(token.raw, offset);
    const start = found === -1 ? offset : found;
    offset = start + token.raw.length;
    out.push({ token, start, end: offset });
  }
  return out;
}

/** A heading's text without inline markup (`**bold**` → bold, links → their text). */
export function plainText(token: Token): string {
  const inner = (token as { tokens?: Token[] }).tokens;
  if (Array.isArray(inner) && inner.length > 0) return inner.map(plainText).join('');
  if (token.type === 'html') return '';
  const value = (token as { text?: unknown }).text;
  return typeof value === 'string' ? value : '';
}

interface FrontMatter {
  /** Characters of the front matter block, its closing line included. */
  length: number;
  lines: number;
  data: Record<string, unknown>;
}

function frontMatter(text: string, name: string): FrontMatter {
  const none = { length: 0, lines: 0, data: {} };
  if (!text.startsWith('---\n')) return none;
  const end = /^(?:---|\.\.\.)[ \t]*$/m.exec(text.slice(4));
  if (!end) return none;
  const yamlText = text.slice(4, 4 + end.index);
  const after = 4 + end.index + end[0].length;
  const length = text[after] === '\n' ? after + 1 : after;
  const lines = text.slice(0, length).split('\n').length - (text[after] === '\n' ? 1 : 0);
  let data: unknown;
  try {
    data = parseYaml(yamlText);
  } catch (err) {
    const line = err instanceof YAMLParseError && err.linePos ? err.linePos[0].line + 1 : 1;
    // yaml's own "at line N" counts from the front matter's first line; the file line is given instead.
    const what = (err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)).replace(/ at line \d+, column \d+:?$/, '');
    throw parseFailed(name, `the front matter is not valid YAML (${what})`, { line });
  }
  if (data === null || data === undefined) return { length, lines, data: {} };
  if (typeof data !== 'object' || Array.isArray(data)) throw parseFailed(name, 'the front matter must be a YAML mapping (key: value)', { line: 2 });
  return { length, lines, data: data as Record<string, unknown> };
}

function stringList(value: unknown): string[] | null {
  if (typeof value === 'string') return value.trim() === '' ? [] : [value.trim()];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return null;
  return value.map((v) => v.trim()).filter((v) => v !== '');
}

function applyQuestions(sections: KbSection[], declared: unknown, name: string, problems: string[]): void {
  if (declared === undefined || declared === null) return;
  const list = stringList(declared);
  if (list) {
    const first = sections[0];
    if (first && list.length > 0) first.questions = list;
    else if (list.length > 0) problems.push(`${name}: front matter questions, but the document has no text to attach them to`);
    return;
  }
  if (typeof declared !== 'object' || Array.isArray(declared)) {
    problems.push(`${name}: front matter questions must be a list of strings or a mapping from heading to a list`);
    return;
  }
  for (const [heading, value] of Object.entries(declared)) {
    const questions = stringList(value);
    if (!questions) {
      problems.push(`${name}: front matter questions for "${heading}" must be a list of strings`);
      continue;
    }
    const key = heading.trim().toLowerCase();
    const own = sections.filter((s) => s.headingPath[s.headingPath.length - 1]?.toLowerCase() === key);
    // A heading with no text of its own (a subheading right below it): its first subsection.
    const first = sections.find((s) => s.headingPath.some((h) => h.toLowerCase() === key));
    const under = own.length > 0 ? own : first ? [first] : [];
    if (under.length === 0) problems.push(`${name}: front matter questions name the heading "${heading}", which the document does not have`);
    for (const s of under) s.questions = [...(s.questions ?? []), ...questions];
  }
}
