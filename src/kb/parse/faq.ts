import { isMap, isSeq, parseDocument as parseYamlDocument, type Node as YamlNode } from 'yaml';
import type { KbFaq, ParsedDocument } from '../types.js';
import { baseTitle, LineIndex, normalizeText, parseFailed } from './common.js';
import { CsvError, parseCsv } from './csv.js';

/**
 * FAQ files: entries of `{question, alternatives?, answer, tags?}`, each a first-class question
 * and answer. YAML and JSON hold a list at the top or under `faq:` (with an optional `title:`
 * beside it); `alternatives` and `tags` are a list or one string. CSV has a header row naming
 * the columns `question` and `answer` (and optionally `alternatives`, `tags`, in any order);
 * several alternatives or tags in one cell are separated by `|`.
 *
 * An entry without a question or an answer is left out and named, with its line (or its
 * index when the line is unknown), in `problems`: one bad entry never loses the good ones. A
 * file with entries of which none is good fails as a whole.
 */

interface Candidate {
  value: unknown;
  /** 1-based line of the entry, when known. */
  line: number | null;
  /** 1-based position among the file's entries. */
  index: number;
}

export function parseFaqYaml(source: string, name: string): ParsedDocument {
  const text = normalizeText(source);
  const doc = parseYamlDocument(text, { prettyErrors: true, uniqueKeys: false });
  const error = doc.errors[0];
  if (error) throw parseFailed(name, `not valid YAML (${error.message.split('\n')[0]})`, { line: error.linePos?.[0].line ?? 1 });
  const lines = new LineIndex(text);
  const { items, title } = faqList(doc.toJS() as unknown, name);
  const nodes = listNode(doc.contents);
  return faqDocument(name, title, items.map((value, i) => ({ value, index: i + 1, line: nodeLine(nodes?.[i], lines) })));
}

export function parseFaqJson(source: string, name: string): ParsedDocument {
  const text = normalizeText(source);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const line = new LineIndex(text).lineOf(jsonErrorOffset(text, message));
    throw parseFailed(name, `not valid JSON (${clip(message.split('\n')[0] ?? message)})`, line === undefined ? undefined : { line });
  }
  const { items, title } = faqList(data, name);
  // JSON is YAML too: read it once more as YAML only to learn where each entry starts.
  const lines = new LineIndex(text);
  const yamlDoc = parseYamlDocument(text, { uniqueKeys: false });
  const nodes = yamlDoc.errors.length === 0 ? listNode(yamlDoc.contents) : undefined;
  return faqDocument(name, title, items.map((value, i) => ({ value, index: i + 1, line: nodeLine(nodes?.[i], lines) })));
}

export function parseFaqCsv(source: string, name: string): ParsedDocument {
  let rows;
  try {
    rows = parseCsv(normalizeText(source));
  } catch (err) {
    if (err instanceof CsvError) throw parseFailed(name, `not valid CSV: ${err.message}`, { line: err.line });
    throw err;
  }
  const header = rows[0];
  if (!header) return faqDocument(name, undefined, []);
  const columns = header.fields.map((f) => f.trim().toLowerCase());
  const at = (column: string): number => columns.indexOf(column);
  if (at('question') === -1 || at('answer') === -1) {
    throw parseFailed(name, `the header row must name the columns question and answer (and optionally alternatives, tags); it has ${columns.map((c) => JSON.stringify(c)).join(', ')}`, { line: header.line });
  }
  const problems: string[] = [];
  const candidates: Candidate[] = [];
  rows.slice(1).forEach((row, i) => {
    if (row.fields.length !== columns.length) {
      problems.push(`${name}:${row.line}: row has ${row.fields.length} fields, the header ${columns.length}; left out`);
      return;
    }
    const cell = (column: string): string | undefined => (at(column) === -1 ? undefined : row.fields[at(column)]);
    const split = (value: string | undefined): string[] => (value ?? '').split('|');
    candidates.push({
      value: { question: cell('question'), answer: cell('answer'), alternatives: split(cell('alternatives')), tags: split(cell('tags')) },
      line: row.line,
      index: i + 1,
    });
  });
  return faqDocument(name, undefined, candidates, problems);
}

/**
 * Where JSON.parse stopped: from its message when it names the position (Node names it for
 * some errors only), else found by bisection. Every prefix shorter than the bad character
 * fails only for ending early, every longer one fails at that character.
 */
export function jsonErrorOffset(text: string, message: string): number {
  const position = /at position (\d+)/.exec(message);
  if (position) return Number(position[1]);
  const endsEarly = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (err) {
      const m = err instanceof Error ? err.message : '';
      const at = /at position (\d+)/.exec(m);
      return /end of JSON input|Unterminated/i.test(m) || (at !== null && Number(at[1]) >= length);
    }
  };
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (endsEarly(mid + 1)) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(lo, Math.max(0, text.length - 1));
}

function faqList(data: unknown, name: string): { items: unknown[]; title: string | undefined } {
  if (data === null || data === undefined) return { items: [], title: undefined };
  if (Array.isArray(data)) return { items: data, title: undefined };
  if (typeof data === 'object' && Array.isArray((data as { faq?: unknown }).faq)) {
    const { faq, title } = data as { faq: unknown[]; title?: unknown };
    return { items: faq, title: typeof title === 'string' && title.trim() !== '' ? title.trim() : undefined };
  }
  throw parseFailed(name, 'a FAQ file holds a list of {question, answer} entries, at the top or under faq:', { line: 1 });
}

/** The YAML nodes of the entries, in order, to learn their lines. */
function listNode(contents: unknown): readonly unknown[] | undefined {
  if (isSeq(contents)) return contents.items;
  if (isMap(contents)) {
    const faq = contents.get('faq', true);
    if (isSeq(faq)) return faq.items;
  }
  return undefined;
}

function nodeLine(node: unknown, lines: LineIndex): number | null {
  const range = (node as YamlNode | undefined)?.range;
  return range ? lines.lineOf(range[0]) : null;
}

function faqDocument(name: string, title: string | undefined, candidates: Candidate[], problems: string[] = []): ParsedDocument {
  const faqs: KbFaq[] = [];
  for (const candidate of candidates) {
    const result = faqEntry(candidate.value);
    if (typeof result === 'string') {
      const where = candidate.line !== null ? `${name}:${candidate.line}` : name;
      problems.push(`${where}: entry ${candidate.index} ${result}; left out`);
    } else {
      faqs.push({ ...result, line: candidate.line });
    }
  }
  if (faqs.length === 0 && problems.length > 0) {
    throw parseFailed(name, `no usable FAQ entry: ${problems.join('; ')}`);
  }
  const doc: ParsedDocument = { title: title ?? baseTitle(name), format: 'faq', sections: [], faqs };
  if (problems.length > 0) doc.problems = problems;
  return doc;
}

/** An entry as a KbFaq (without its line), or what is wrong with it. */
function faqEntry(value: unknown): Omit<KbFaq, 'line'> | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not a {question, answer} mapping';
  const entry = value as Record<string, unknown>;
  const question = typeof entry['question'] === 'string' ? entry['question'].trim() : '';
  const answer = typeof entry['answer'] === 'string' ? entry['answer'].trim() : '';
  if (question === '' && answer === '') return 'has neither a question nor an answer';
  if (question === '') return `has no question (answer: ${JSON.stringify(clip(answer))})`;
  if (answer === '') return `has no answer (question: ${JSON.stringify(clip(question))})`;
  const alternatives = strings(entry['alternatives']);
  const tags = strings(entry['tags']);
  if (alternatives === null) return 'has alternatives that are not a list of strings';
  if (tags === null) return 'has tags that are not a list of strings';
  return { question, alternatives, answer, tags };
}

function strings(value: unknown): string[] | null {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) return null;
  return list.map((v) => v.trim()).filter((v) => v !== '');
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
