/**
 * Answers from the knowledge base's passages, with their citations. With the built-in model
 * the answer is extracted: a FAQ entry's answer, or the sentences of the best section that
 * share the most (rare) words with the question. With a language model the passages go into
 * the prompt, numbered, and the model's `[n]` marks are checked against what it was given.
 */
import type { JsonObject } from '../json.js';
import { kbWords } from './words.js';
import { idf } from './ranking.js';
import type { KbHit, KbSearchResult } from './retrieval.js';

/** What `reply.data.citations` lists: enough for a channel to show a footnote or a link. */
export interface KbCitation {
  n: number;
  source: string;
  title: string;
  heading: string;
  line: number | null;
  page: number | null;
  score: number;
}

/** Sentences an extracted answer keeps around the best one. */
const MAX_SENTENCES = 3;
/** An FAQ answer longer than this is cut at a sentence. */
const MAX_FAQ_CHARS = 1200;

const sentences = new Intl.Segmenter('und', { granularity: 'sentence' });

export const DONT_KNOW = "I don't know: I could not find that in the documents I have.";

/** A passage's headings; a FAQ entry is named by its question. */
function headingsOf(hit: Pick<KbHit, 'headingPath' | 'questions' | 'kind'>): string[] {
  return hit.kind === 'faq' && hit.questions[0] ? [...hit.headingPath, hit.questions[0]] : hit.headingPath;
}

export function citationOf(hit: KbHit, n: number): KbCitation {
  return { n, source: hit.source, title: hit.title, heading: headingsOf(hit).join(' › '), line: hit.lineStart, page: hit.page, score: hit.score };
}

export const citationJson = (c: KbCitation): JsonObject => ({ ...c });

/** "Title › Heading (page 3)": how a passage is named to the user and the model. */
export function passageName(hit: Pick<KbHit, 'title' | 'headingPath' | 'questions' | 'kind' | 'page' | 'lineStart'>): string {
  const heading = headingsOf(hit).filter((h) => h !== hit.title);
  const where = hit.page !== null ? ` (page ${hit.page})` : hit.lineStart !== null ? ` (line ${hit.lineStart})` : '';
  return `${[hit.title, ...heading].join(' › ')}${where}`;
}

/**
 * The built-in model's answer: the best hit's FAQ answer, or its best contiguous sentences,
 * then a footnote naming where it came from.
 */
export function extractAnswer(result: KbSearchResult): { text: string; citations: KbCitation[] } {
  const best = result.hits[0] as KbHit;
  const body = best.kind === 'faq' ? clip(best.text, MAX_FAQ_CHARS) : bestSentences(best.text, result.terms);
  return { text: `${body}\n\n[1] ${passageName(best)}`, citations: [citationOf(best, 1)] };
}

/** The 1-3 contiguous sentences of `text` that cover the query's words best (rarer words weigh more within the passage). */
export function bestSentences(text: string, terms: readonly string[]): string {
  const parts = [...sentences.segment(text)].map((s) => s.segment.trim()).filter((s) => s !== '' && !/^```/.test(s));
  if (parts.length <= MAX_SENTENCES) return parts.join(' ');
  const words = parts.map((p) => new Set(kbWords(p)));
  // Weight a query word by how rare it is among the passage's sentences.
  const weight = new Map(terms.map((t) => [t, idf(words.filter((w) => w.has(t)).length, parts.length)]));
  const score = (i: number) => terms.reduce((n, t) => n + (words[i]?.has(t) ? (weight.get(t) ?? 0) : 0), 0);
  let bestStart = 0;
  let bestScore = -1;
  for (let start = 0; start < parts.length; start++) {
    let s = 0;
    for (let i = start; i < Math.min(parts.length, start + MAX_SENTENCES); i++) s += score(i) * (i === start ? 1 : 0.5);
    if (s > bestScore) {
      bestScore = s;
      bestStart = start;
    }
  }
  // Sentences after the best one are kept only while they still share words with the question.
  const kept = [parts[bestStart] as string];
  for (let i = bestStart + 1; i < Math.min(parts.length, bestStart + MAX_SENTENCES) && score(i) > 0; i++) kept.push(parts[i] as string);
  return kept.join(' ');
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text.trim();
  const cut = [...sentences.segment(text)].reduce((acc, s) => (acc.length + s.segment.length <= max ? acc + s.segment : acc), '');
  return (cut || text.slice(0, max)).trim();
}

/** The passages as the model reads them, numbered, and the rules for answering from them. */
export function passagesPrompt(hits: readonly KbHit[]): string {
  const passages = hits.map((h, i) => `[${i + 1}] (${passageName(h)})\n${h.kind === 'faq' ? `Q: ${h.questions[0] ?? ''}\nA: ${h.text}` : h.text}`).join('\n\n');
  return [
    "Answer the user's question using only the passages below, taken from the operator's documents.",
    'Cite the passages you use with their numbers in square brackets, like [1].',
    "If the passages do not answer the question, say that you don't know; do not guess and do not use other knowledge.",
    '',
    passages,
  ].join('\n');
}

/**
 * The citations a model's answer makes: only `[n]` marks of passages it was given count; a
 * made-up `[7]` is dropped from the text. An answer that cites nothing gets no citations.
 */
export function checkCitations(text: string, hits: readonly KbHit[]): { text: string; citations: KbCitation[] } {
  const used = new Set<number>();
  const cleaned = text.replace(/\[(\d{1,2})\]/g, (mark, digits: string) => {
    const n = Number(digits);
    if (n < 1 || n > hits.length) return '';
    used.add(n);
    return mark;
  });
  const citations = [...used].sort((a, b) => a - b).map((n) => citationOf(hits[n - 1] as KbHit, n));
  return { text: cleaned.replace(/ {2,}/g, ' ').trim(), citations };
}
