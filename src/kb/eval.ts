/**
 * Measuring the knowledge base (`pincer kb eval`): each question of a set is searched, the
 * rank of the first passage from the right source (and section) is noted with the search's
 * confidence, and from those samples come retrieval's recall@1, recall@5 and MRR@10, how many
 * answers would cite the right source, how many out-of-scope questions are declined, and the
 * coverage threshold that best separates the two on a development set.
 */
import { z } from 'zod';
import { PincerError } from '../errors.js';
import type { KbHit, KbSearchResult } from './retrieval.js';

const questionSchema = z
  .object({
    question: z.string().min(1),
    /** The answering document's path within the corpus folder. */
    source: z.string().min(1).optional(),
    /** The answering section's (deepest) heading, or a FAQ entry's question. */
    heading: z.string().min(1).optional(),
    difficulty: z.enum(['easy', 'medium', 'hard']).optional(),
    out_of_scope: z.boolean().optional(),
  })
  .strict()
  .refine((q) => q.out_of_scope === true || q.source !== undefined, { message: 'an in-scope question needs "source"' });

export type EvalQuestion = z.output<typeof questionSchema>;

export function parseQuestions(value: unknown, where: string): EvalQuestion[] {
  const parsed = z.array(questionSchema).min(1).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PincerError('VALIDATION_ERROR', `${where}: question ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export interface EvalSample {
  question: EvalQuestion;
  /** 1-based rank of the first right passage within the hits, null when none. */
  rank: number | null;
  confidence: number;
  top: string | null;
}

const norm = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

/** Whether a hit is the passage a question names: its source's path, and its section or FAQ question when given. */
export function isRightHit(hit: Pick<KbHit, 'source' | 'headingPath' | 'questions' | 'kind'>, q: EvalQuestion): boolean {
  if (!q.source) return false;
  const path = hit.source.replace(/^(kb|file):/, '');
  if (path !== q.source && !path.endsWith(`/${q.source}`)) return false;
  if (!q.heading) return true;
  const heading = norm(q.heading);
  return hit.headingPath.some((h) => norm(h) === heading) || hit.questions.some((x) => norm(x) === heading);
}

export async function sampleQuestions(questions: readonly EvalQuestion[], search: (q: string) => Promise<KbSearchResult>, depth = 10): Promise<EvalSample[]> {
  const samples: EvalSample[] = [];
  for (const question of questions) {
    const result = await search(question.question);
    const hits = result.hits.slice(0, depth);
    const index = question.out_of_scope ? -1 : hits.findIndex((h) => isRightHit(h, question));
    const top = hits[0];
    samples.push({ question, rank: index >= 0 ? index + 1 : null, confidence: result.confidence, top: top ? `${top.source} › ${top.headingPath.at(-1) ?? top.questions[0] ?? ''}` : null });
  }
  return samples;
}

export interface EvalReport {
  inScope: number;
  outOfScope: number;
  recallAt1: number;
  recallAt5: number;
  mrr: number;
  threshold: number;
  /** In-scope questions answered (confidence at or above the threshold) from the right source first. */
  answeredRight: number;
  /** Answered, but the first passage was from elsewhere: a wrong citation. */
  answeredWrong: number;
  /** In-scope questions the bot would say it does not know. */
  declinedInScope: number;
  outOfScopeDeclined: number;
  byDifficulty: Record<string, { n: number; recallAt1: number; recallAt5: number }>;
}

const share = (n: number, of: number) => (of === 0 ? 0 : n / of);

export function report(samples: readonly EvalSample[], threshold: number): EvalReport {
  const inScope = samples.filter((s) => !s.question.out_of_scope);
  const out = samples.filter((s) => s.question.out_of_scope);
  const byDifficulty: EvalReport['byDifficulty'] = {};
  for (const level of ['easy', 'medium', 'hard']) {
    const group = inScope.filter((s) => s.question.difficulty === level);
    if (group.length > 0) byDifficulty[level] = { n: group.length, recallAt1: share(group.filter((s) => s.rank === 1).length, group.length), recallAt5: share(group.filter((s) => s.rank !== null && s.rank <= 5).length, group.length) };
  }
  const answered = inScope.filter((s) => s.confidence >= threshold);
  return {
    inScope: inScope.length,
    outOfScope: out.length,
    recallAt1: share(inScope.filter((s) => s.rank === 1).length, inScope.length),
    recallAt5: share(inScope.filter((s) => s.rank !== null && s.rank <= 5).length, inScope.length),
    mrr: share(
      inScope.reduce((n, s) => n + (s.rank !== null ? 1 / s.rank : 0), 0),
      inScope.length,
    ),
    threshold,
    answeredRight: answered.filter((s) => s.rank === 1).length,
    answeredWrong: answered.filter((s) => s.rank !== 1).length,
    declinedInScope: inScope.length - answered.length,
    outOfScopeDeclined: out.filter((s) => s.confidence < threshold).length,
    byDifficulty,
  };
}

/**
 * The coverage threshold that best balances answering in-scope questions from the right
 * source against declining out-of-scope ones (the mean of the two rates), chosen among the
 * midpoints between the samples' confidences, so it does not sit on one question's value.
 */
export function tuneThreshold(samples: readonly EvalSample[]): number {
  const values = [...new Set(samples.map((s) => s.confidence))].sort((a, b) => a - b);
  const candidates = [0, ...values.slice(1).map((v, i) => (v + (values[i] as number)) / 2), (values.at(-1) ?? 0) + 1e-6];
  let best = { t: 0.7, score: -1 };
  for (const t of candidates) {
    const r = report(samples, t);
    const score = (share(r.answeredRight, r.inScope) + share(r.outOfScopeDeclined, r.outOfScope)) / 2;
    if (score > best.score) best = { t, score };
  }
  return Number(best.t.toFixed(4));
}

export function formatReport(name: string, r: EvalReport): string {
  const pct = (n: number, of: number) => `${n}/${of} (${(share(n, of) * 100).toFixed(0)} %)`;
  const lines = [
    `${name}: ${r.inScope} in-scope and ${r.outOfScope} out-of-scope questions, coverage threshold ${r.threshold}`,
    `  retrieval: recall@1 ${r.recallAt1.toFixed(2)}, recall@5 ${r.recallAt5.toFixed(2)}, MRR@10 ${r.mrr.toFixed(2)}`,
    `  answers: right source first ${pct(r.answeredRight, r.inScope)}, wrong source ${r.answeredWrong}, declined ${r.declinedInScope}`,
    `  out of scope declined: ${pct(r.outOfScopeDeclined, r.outOfScope)}`,
    ...Object.entries(r.byDifficulty).map(([level, d]) => `  ${level}: ${d.n} questions, recall@1 ${d.recallAt1.toFixed(2)}, recall@5 ${d.recallAt5.toFixed(2)}`),
  ];
  return lines.join('\n');
}
