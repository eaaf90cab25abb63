import type { JsonObject, JsonValue } from '../../json.js';
import type { ExamplePart } from './examples.js';
import { isFunctionWord } from './text.js';

/**
 * Filling a tool's arguments from a message: the message's words are aligned to an example's
 * words and slots (an edit distance in which a slot takes a run of the message's words), each
 * slot's text is taken from the original message (so "A-1042" stays "A-1042"), and turned
 * into the parameter's type by its schema. A value that does not fit the schema is no value.
 */

/** A word of the message, normalised for matching, and where it is in the original text. */
export interface Token {
  norm: string;
  start: number;
  end: number;
}

/** Words, and numbers with their decimals ("25.5" is one token). */
const WORD = /\d+(?:[.,]\d+)+|[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu;

export function tokenize(text: string): Token[] {
  return [...text.matchAll(WORD)].map((m) => ({ norm: normalise(m[0]), start: m.index as number, end: (m.index as number) + m[0].length }));
}

function normalise(word: string): string {
  return word.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/’/g, "'");
}

/** "orders" matches "order", "what's" matches "what": near enough for aligning, the classifier judges the rest. */
function same(a: string, b: string): boolean {
  const stem = (w: string) => w.replace(/'[a-z]+$/, '').replace(/(?<=\w{3})(es|s)$/, '');
  return a === b || stem(a) === stem(b);
}

export interface Alignment {
  /** Edit cost: example words missing from the message, message words the example has not. */
  cost: number;
  /** Each slot's run of message tokens (absent: the slot took none). */
  spans: Record<string, { from: number; to: number }>;
  /** The message's tokens the example has no place for. */
  extra: Set<number>;
}

/** A slot taking words is nearly free (so it takes them rather than the words being "extra"), but shorter is better. */
const SLOT_WORD_COST = 0.05;
/** A slot left empty costs more than one that takes a word, less than an extra word: "{amount} {from}" takes "100 EUR" as two values. */
const EMPTY_SLOT_COST = 0.3;
/** Longer messages are not commands to a tool: aligning them is skipped. */
export const MAX_ALIGNED_TOKENS = 60;

/** The cheapest alignment of the message's tokens to the example (dynamic programming, O(parts × tokens²)). */
export function align(parts: readonly ExamplePart[], tokens: readonly Token[]): Alignment {
  const m = parts.length;
  const n = tokens.length;
  const cost: number[][] = Array.from({ length: m + 1 }, () => new Array<number>(n + 1).fill(Infinity));
  // back[i][j]: the j' the step to (i, j) came from, and whether i advanced.
  const back: Array<Array<{ i: number; j: number }>> = Array.from({ length: m + 1 }, () => new Array<{ i: number; j: number }>(n + 1));
  const at = (i: number, j: number) => (cost[i] as number[])[j] as number;
  const relax = (i: number, j: number, from: { i: number; j: number }, c: number) => {
    if (c < at(i, j)) {
      (cost[i] as number[])[j] = c;
      (back[i] as Array<{ i: number; j: number }>)[j] = from;
    }
  };
  (cost[0] as number[])[0] = 0;
  for (let i = 0; i <= m; i++) {
    for (let j = 0; j <= n; j++) {
      if (i === 0 && j === 0) continue;
      // A message word the example does not have.
      if (j > 0) relax(i, j, { i, j: j - 1 }, at(i, j - 1) + 1);
      if (i === 0) continue;
      const part = parts[i - 1] as ExamplePart;
      if ('slot' in part) {
        for (let k = 0; k <= j; k++) relax(i, j, { i: i - 1, j: k }, at(i - 1, k) + (k === j ? EMPTY_SLOT_COST : SLOT_WORD_COST * (j - k)));
      } else {
        relax(i, j, { i: i - 1, j }, at(i - 1, j) + 1);
        if (j > 0) relax(i, j, { i: i - 1, j: j - 1 }, at(i - 1, j - 1) + (same(part.word, (tokens[j - 1] as Token).norm) ? 0 : 1));
      }
    }
  }
  const spans: Alignment['spans'] = {};
  const extra = new Set<number>();
  for (let i = m, j = n; i > 0 || j > 0; ) {
    const from = (back[i] as Array<{ i: number; j: number }>)[j] as { i: number; j: number };
    const part = parts[i - 1];
    if (from.i === i - 1 && part && 'slot' in part && from.j < j) spans[part.slot] = { from: from.j, to: j };
    if (from.i === i && from.j === j - 1) extra.add(j - 1);
    ({ i, j } = from);
  }
  return { cost: at(m, n), spans, extra };
}

/** Words around a value that are not part of it ("please", "it's"). */
const FILLER = new Set(['please', 'pls', 'thanks', 'thank', 'you', 'now', 'ok', 'okay', 'sure', 'yes', 'it', "it's", 'its', 'is', 'that', "that's", 'the', 'a', 'an', 'my', 'number', 'id', 'one', 'today', 'tomorrow', 'tonight', 'yet']);

/**
 * The value of one parameter from a piece of the message, by its schema: an integer or number
 * found in it, a boolean from yes/no/on/off, an enum member it names, a string matching the
 * pattern (the longest run of words that does), or the text itself without filler at its ends.
 * Undefined when nothing there fits.
 */
export function coerce(text: string, schema: Readonly<JsonObject>): JsonValue | undefined {
  const tokens = tokenize(text);
  if (tokens.length === 0) return undefined;
  if (Array.isArray(schema.enum)) {
    const norms = tokens.map((t) => t.norm);
    const hit = schema.enum.find((v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && contains(norms, tokenize(String(v)).map((t) => t.norm)));
    return hit === undefined ? undefined : hit;
  }
  switch (schema.type) {
    case 'integer': {
      const found = /(?<![\d.])[-+]?\d+(?![.,]\d)/.exec(text);
      return found ? Number(found[0]) : undefined;
    }
    case 'number': {
      const found = /[-+]?\d+(?:[.,]\d+)?/.exec(text);
      return found ? Number(found[0].replace(',', '.')) : undefined;
    }
    case 'boolean': {
      const norms = new Set(tokens.map((t) => t.norm));
      const yes = ['yes', 'true', 'on', 'enable', 'enabled', 'y'].some((w) => norms.has(w));
      const no = ['no', 'false', 'off', 'disable', 'disabled', 'n', 'not', "don't"].some((w) => norms.has(w));
      return yes === no ? undefined : yes;
    }
    case 'string':
    case undefined:
      return typeof schema.pattern === 'string' ? matchPattern(text, tokens, schema.pattern) : plain(text, tokens, schema);
    default:
      return undefined;
  }
}

function contains(haystack: readonly string[], needle: readonly string[]): boolean {
  if (needle.length === 0) return false;
  for (let i = 0; i + needle.length <= haystack.length; i++) if (needle.every((w, k) => haystack[i + k] === w)) return true;
  return false;
}

/** The longest run of whole words that matches the pattern, as typed or upper-cased ("a-1042" for ^[A-Z]-\d+$). */
function matchPattern(text: string, tokens: readonly Token[], pattern: string): string | undefined {
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
  for (let length = tokens.length; length > 0; length--) {
    for (let i = 0; i + length <= tokens.length; i++) {
      const piece = text.slice((tokens[i] as Token).start, (tokens[i + length - 1] as Token).end);
      for (const candidate of [piece, piece.toUpperCase()]) if (re.test(candidate)) return candidate;
    }
  }
  return undefined;
}

function plain(text: string, tokens: readonly Token[], schema: Readonly<JsonObject>): string | undefined {
  let from = 0;
  let to = tokens.length;
  while (from < to && FILLER.has((tokens[from] as Token).norm)) from++;
  while (to > from && FILLER.has((tokens[to - 1] as Token).norm)) to--;
  // "for" or "to it" is no value: a slot took the glue between words.
  if (tokens.slice(from, to).every((t) => isFunctionWord(t.norm))) return undefined;
  const value = text.slice((tokens[from] as Token).start, (tokens[to - 1] as Token).end);
  if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) return undefined;
  if (typeof schema.minLength === 'number' && value.length < schema.minLength) return undefined;
  return value;
}

/** Text of a run of tokens, from the original message. */
export function spanText(text: string, tokens: readonly Token[], span: { from: number; to: number }): string {
  return text.slice((tokens[span.from] as Token).start, (tokens[span.to - 1] as Token).end);
}
