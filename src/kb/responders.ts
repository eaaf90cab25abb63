/**
 * How the knowledge base answers. Without a language model: a responder before the built-in
 * model that answers by extraction when the best passage covers the question (`kb.min_coverage`),
 * and otherwise lets the built-in model speak (small talk, its intents). With a language model:
 * the passages go into its prompt and its citations are checked (`knowledgeContext`), and
 * `kb_search` lets it search again with its own words. A question the knowledge base could not
 * answer is logged for the operator.
 */
import type { Logger } from 'pino';
import type { ChatMessage } from '../models/types.js';
import type { Responder, Tool } from '../pipeline/types.js';
import type { KnowledgeStore, MessageRecord } from '../store/types.js';
import { checkCitations, citationJson, extractAnswer, passageName, passagesPrompt, type KbCitation } from './answer.js';
import type { KbSearchResult } from './retrieval.js';
import type { KnowledgeBase } from './service.js';

export interface KnowledgeAnswering {
  kb: Pick<KnowledgeBase, 'search' | 'hasChunks'>;
  store: Pick<KnowledgeStore, 'logUnanswered'>;
  minCoverage: number;
  contextChunks: number;
  log: Pick<Logger, 'warn'>;
}

/** What the model responder adds for the knowledge base, and how it finishes the answer. */
export interface KnowledgeContext {
  messages: ChatMessage[];
  finish(text: string): { text: string; citations: KbCitation[] };
}

/** Runs before the built-in model (order 50): commands come first, the model after. */
export const KNOWLEDGE_ORDER = 50;

async function searchFor(options: KnowledgeAnswering, message: MessageRecord, signal: AbortSignal): Promise<KbSearchResult | undefined> {
  if (message.text.trim() === '' || !(await options.kb.hasChunks())) return undefined;
  return options.kb.search(message.text, options.contextChunks, signal);
}

/** Notes a question below the coverage gate; a failure to log never fails the answer. */
function logUnanswered(options: KnowledgeAnswering, message: MessageRecord, result: KbSearchResult): void {
  const top = result.hits[0];
  options.store
    .logUnanswered({ query: message.text.slice(0, 1000), conversationId: message.conversationId, channel: message.channel, topChunkId: top?.chunkId ?? null, score: top?.coverage ?? null })
    .catch((err: unknown) => options.log.warn({ err, event: 'kb.unanswered_failed' }, 'knowledge: could not log an unanswered question'));
}

/** The built-in model's knowledge: an extracted answer with its citation, or nothing (the next responder answers). */
export function extractiveResponder(options: KnowledgeAnswering): Responder {
  return {
    name: 'knowledge',
    order: KNOWLEDGE_ORDER,
    async respond(ctx) {
      const result = await searchFor(options, ctx.message, ctx.signal);
      if (!result) return undefined;
      if (result.hits.length === 0 || result.confidence < options.minCoverage) {
        // Words the documents share with the question make it one the operator may want to cover.
        if (result.hits.length > 0) logUnanswered(options, ctx.message, result);
        return undefined;
      }
      const answer = extractAnswer(result);
      return { text: answer.text, data: { citations: answer.citations.map(citationJson), confidence: result.confidence } };
    },
  };
}

/** For a language model: the passages in its prompt, and its answer's citations checked. */
export function knowledgeContext(options: KnowledgeAnswering) {
  return async (message: MessageRecord, signal: AbortSignal): Promise<KnowledgeContext | undefined> => {
    const result = await searchFor(options, message, signal);
    if (!result || result.hits.length === 0) return undefined;
    if (result.confidence < options.minCoverage) logUnanswered(options, message, result);
    const hits = result.hits;
    return { messages: [{ role: 'system', content: passagesPrompt(hits) }], finish: (text) => checkCitations(text, hits) };
  };
}

/** `kb_search`: the model searches the documents with its own words. */
export function kbSearchTool(kb: Pick<KnowledgeBase, 'search'>, maxK: number): Tool {
  return {
    name: 'kb_search',
    description: "Search the operator's documents (the knowledge base) for passages about a question. Returns the best passages with where they come from; cite them by source and heading.",
    parameters: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'the question or words to look for', minLength: 1, maxLength: 2000 },
        k: { type: 'integer', description: 'how many passages (default 4)', minimum: 1, maximum: maxK },
      },
      required: ['query'],
      additionalProperties: false,
    },
    effect: 'read',
    idempotent: true,
    async execute(args, t) {
      const result = await kb.search(String(args.query), typeof args.k === 'number' ? args.k : 4, t.signal);
      return {
        confidence: result.confidence,
        passages: result.hits.map((h) => ({ source: h.source, where: passageName(h), text: h.text, coverage: Number(h.coverage.toFixed(3)) })),
      };
    },
  };
}
