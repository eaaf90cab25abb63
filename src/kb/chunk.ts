import { createHash } from 'node:crypto';
import type { Token } from 'marked';
import { PincerError } from '../errors.js';
import { promptTokens } from '../memory/facts.js';
import { LineIndex } from './parse/common.js';
import { topLevelTokens } from './parse/markdown.js';
import type { KbChunk, KbSection, ParsedDocument } from './types.js';

/**
 * Cutting a parsed document into the chunks that are indexed and cited: structure first
 * (each section is cut on its own, never merged with the next; each FAQ entry is one chunk,
 * its answer the text and its question and alternatives the questions), then size: a section
 * longer than the target is cut between its blocks (paragraphs, lists, code fences, tables),
 * a block longer than the target between its sentences, a sentence longer than the target
 * between its words. A fenced code block or a table is never cut: one larger than the target
 * is a chunk of its own. Consecutive chunks of a section share up to `overlapTokens` of text
 * (whole sentences or blocks, never a fence or a table), so a passage cut in two is still found
 * whole once.
 *
 * A chunk's text is a verbatim slice of its section's text, and its lines are those of the
 * slice (a section's line i is its lineStart + i), so a citation points at the lines quoted.
 */

export interface ChunkOptions {
  /** Tokens a chunk aims at (words × 4/3, or the segmenter's word count for CJK). */
  targetTokens: number;
  /** Tokens a chunk repeats from the end of the one before it, in the same section. */
  overlapTokens: number;
  /** Most chunks one document may give (kb.max_chunks); more is KB_TOO_MANY_CHUNKS. */
  maxChunks: number;
}

/** The design's defaults (§3.2, §5.6): 400 tokens, 60 overlap (15 %), 200 000 chunks. */
export const DEFAULT_CHUNK_OPTIONS: Readonly<ChunkOptions> = Object.freeze({ targetTokens: 400, overlapTokens: 60, maxChunks: 200_000 });

/** Bumped whenever the same document would be cut differently: it is part of the index identity. */
export const CHUNKER_VERSION = 1;

/** Approximate tokens of a chunk's text, as Pincer counts them for prompts. */
export function chunkTokens(text: string): number {
  return promptTokens(text);
}

/** sha256 (hex) of what identifies a chunk's content: the same content keeps the same hash. */
export function chunkHash(chunk: { kind: KbChunk['kind']; headingPath: readonly string[]; questions: readonly string[]; text: string }): string {
  // JSON keeps the parts apart: ["a b"] and ["a", "b"] hash differently.
  return createHash('sha256').update(JSON.stringify([chunk.kind, chunk.headingPath, chunk.questions, chunk.text])).digest('hex');
}

export function chunkDocument(doc: ParsedDocument, options: Partial<ChunkOptions> = {}): KbChunk[] {
  const { targetTokens, overlapTokens, maxChunks } = { ...DEFAULT_CHUNK_OPTIONS, ...options };
  const target = Math.max(1, Math.floor(targetTokens));
  // More overlap than half a chunk would make every chunk mostly a repeat of the last.
  const overlap = Math.max(0, Math.min(Math.floor(overlapTokens), Math.floor(target / 2)));
  const chunks: KbChunk[] = [];
  const add = (chunk: Omit<KbChunk, 'ordinal' | 'hash' | 'tokens'>): void => {
    if (chunks.length >= maxChunks) {
      throw new PincerError('KB_TOO_MANY_CHUNKS', `"${doc.title}" cuts into more than ${maxChunks} chunks (kb.max_chunks); split the file or raise the limit`, { title: doc.title, limit: maxChunks });
    }
    chunks.push({ ...chunk, ordinal: chunks.length, tokens: chunkTokens(chunk.text), hash: chunkHash(chunk) });
  };
  for (const section of doc.sections) {
    for (const piece of cutSection(section, target, overlap)) add(piece);
  }
  for (const faq of doc.faqs) {
    add({ kind: 'faq', headingPath: [], questions: [faq.question, ...faq.alternatives], text: faq.answer, lineStart: faq.line, lineEnd: faq.line, page: null });
  }
  return chunks;
}

/** A run of a section's text that is never cut further (at least at this level). */
interface Unit {
  start: number;
  end: number;
  tokens: number;
  /** A code fence or a table: never cut, never repeated as overlap. */
  whole: boolean;
}

function cutSection(section: KbSection, target: number, overlap: number): Omit<KbChunk, 'ordinal' | 'hash' | 'tokens'>[] {
  const text = section.text;
  const lines = new LineIndex(text);
  const line = (offset: number): number | null => (section.lineStart === null ? null : section.lineStart + lines.lineOf(offset) - 1);
  return sectionSpans(text, target, overlap).map(([start, end]) => ({
    kind: 'section',
    headingPath: [...section.headingPath],
    questions: [...(section.questions ?? [])],
    text: text.slice(start, end),
    lineStart: line(start),
    lineEnd: line(end - 1),
    page: section.page,
  }));
}

/** Where a section's text is cut: the [start, end) offsets of its chunks, in order. */
export function sectionSpans(text: string, target: number, overlap: number): [number, number][] {
  if (text.trim() === '') return [];
  const units = unitsOf(text, target);
  return pack(units, target, overlap).map(([first, last]) => [units[first]?.start ?? 0, units[last]?.end ?? text.length]);
}

/**
 * Greedy packing: each chunk takes units while they fit the target (at least one), then the
 * next starts with the last units of this one that fit in the overlap, unless with them the
 * next unit would not fit. Returns [first, last] unit indexes, inclusive.
 */
export function pack(units: readonly Pick<Unit, 'tokens' | 'whole'>[], target: number, overlap: number): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  while (i < units.length) {
    let j = i;
    let tokens = 0;
    while (j < units.length && (j === i || tokens + (units[j]?.tokens ?? 0) <= target)) tokens += units[j++]?.tokens ?? 0;
    out.push([i, j - 1]);
    if (j >= units.length) break;
    let k = j;
    let repeated = 0;
    while (k - 1 > i && !units[k - 1]?.whole && repeated + (units[k - 1]?.tokens ?? 0) <= overlap) repeated += units[--k]?.tokens ?? 0;
    if (repeated + (units[j]?.tokens ?? 0) > target) k = j;
    i = k;
  }
  return out;
}

const sentences = new Intl.Segmenter('und', { granularity: 'sentence' });
const words = new Intl.Segmenter('und', { granularity: 'word' });

/** The section's text as units no larger than the target, except whole fences and tables. */
function unitsOf(text: string, target: number): Unit[] {
  const units: Unit[] = [];
  for (const { token, start, end } of topLevelTokens(text)) {
    if (token.type !== 'space') units.push(...blockUnits(text, token, start, end, target));
  }
  return units;
}

function blockUnits(text: string, token: Token, from: number, to: number, target: number): Unit[] {
  const end = trimEnd(text, from, to);
  if (end <= from) return [];
  const tokens = chunkTokens(text.slice(from, end));
  if (isWhole(token)) return [{ start: from, end, tokens, whole: true }];
  if (tokens <= target) return [{ start: from, end, tokens, whole: false }];
  if (!holdsWhole(token)) return sentenceUnits(text, from, end, target);
  // A long list with a fence or table in an item: cut between its items instead.
  if (token.type === 'list') {
    const units: Unit[] = [];
    let cursor = from;
    for (const item of token.items) {
      const at = text.indexOf(item.raw, cursor);
      if (at === -1 || at + item.raw.length > end) return [{ start: from, end, tokens, whole: true }];
      units.push(...blockUnits(text, item, at, at + item.raw.length, target));
      cursor = at + item.raw.length;
    }
    return units;
  }
  // Any other block holding one (a block quote, say) stays whole rather than risk a cut inside.
  return [{ start: from, end, tokens, whole: true }];
}

function isWhole(token: Token): boolean {
  return (token.type === 'code' && token.codeBlockStyle !== 'indented') || token.type === 'table';
}

/** Whether a fence or a table is nested in the token (a list item's, a block quote's). */
function holdsWhole(token: Token): boolean {
  const nested = [...((token as { tokens?: Token[] }).tokens ?? []), ...((token as { items?: Token[] }).items ?? [])];
  return nested.some((t) => isWhole(t) || holdsWhole(t));
}

function trimEnd(text: string, start: number, end: number): number {
  let e = end;
  while (e > start && /\s/.test(text[e - 1] ?? '')) e--;
  return e;
}

/** A block cut between sentences (a line break ends one too, so list items come apart). */
function sentenceUnits(text: string, from: number, to: number, target: number): Unit[] {
  const units: Unit[] = [];
  for (const part of sentences.segment(text.slice(from, to))) {
    const start = from + part.index + (part.segment.length - part.segment.trimStart().length);
    const end = trimEnd(text, start, from + part.index + part.segment.length);
    if (end <= start) continue;
    const tokens = chunkTokens(text.slice(start, end));
    if (tokens <= target) units.push({ start, end, tokens, whole: false });
    else units.push(...wordUnits(text, start, end, target));
  }
  return units;
}

/** A sentence longer than a chunk (a run-on line, CJK text without punctuation) cut between words. */
function wordUnits(text: string, from: number, to: number, target: number): Unit[] {
  const units: Unit[] = [];
  let start = from;
  let end = from;
  for (const part of words.segment(text.slice(from, to))) {
    const partEnd = from + part.index + part.segment.length;
    if (part.isWordLike && end > start && chunkTokens(text.slice(start, partEnd)) > target) {
      units.push({ start, end, tokens: chunkTokens(text.slice(start, end)), whole: false });
      start = from + part.index;
    }
    end = partEnd;
  }
  const last = trimEnd(text, start, to);
  if (last > start) units.push({ start, end: last, tokens: chunkTokens(text.slice(start, last)), whole: false });
  return units.map((u) => ({ ...u, end: trimEnd(text, u.start, u.end) }));
}
