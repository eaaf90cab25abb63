import { PincerError } from '../errors.js';
import { approximateTokens } from '../responders/history.js';
import type { MemoryFact, MessageRecord, SenderKey } from '../store/types.js';
import { distinctTokens, tokenize } from '../text/tokens.js';

/**
 * Whose facts a message may read and change: its channel and sender as the store recorded
 * them (a channel's sender id, or the API client's `sender`), never anything the text says.
 */
export function senderKey(message: Pick<MessageRecord, 'channel' | 'sender'>): SenderKey {
  if (!message.sender) throw new PincerError('MEMORY_NO_SENDER', 'facts are kept per sender, and this message names no sender');
  return { channel: message.channel, senderId: message.sender };
}

/** The fact as it is kept: white space collapsed; empty or too long is a coded error. */
export function factText(text: string, maxLength: number): string {
  const fact = text.replace(/\s+/g, ' ').trim();
  if (fact.length === 0) throw new PincerError('MEMORY_FACT_INVALID', 'there is nothing to remember: the fact is empty');
  if (fact.length > maxLength) throw new PincerError('MEMORY_FACT_INVALID', `a fact may be at most ${maxLength} characters (this one has ${fact.length}); memory.max_fact_length`);
  return fact;
}

/**
 * The facts `what` names: `all`, an id, or the facts whose text contains it (ignoring case).
 * Empty when none do.
 */
export function factsNamed(facts: readonly MemoryFact[], what: string): readonly string[] | 'all' {
  const needle = what.trim().toLowerCase();
  if (needle === 'all') return 'all';
  if (needle.length === 0) return [];
  const byId = facts.filter((f) => f.id === needle);
  if (byId.length > 0) return byId.map((f) => f.id);
  return facts.filter((f) => f.text.toLowerCase().includes(needle)).map((f) => f.id);
}

/**
 * The facts pinned into a prompt: those sharing the most words with the message first, then
 * the newest, while they fit `budgetTokens`. A fact that does not fit is skipped, and smaller
 * ones after it may still fit.
 */
export function pinnedFacts(facts: readonly MemoryFact[], messageText: string, budgetTokens: number): MemoryFact[] {
  const words = new Set(distinctTokens(messageText, 256));
  const scored = facts.map((fact, order) => ({ fact, order, overlap: distinctTokens(fact.text).filter((w) => words.has(w)).length }));
  scored.sort((a, b) => b.overlap - a.overlap || b.fact.createdAt - a.fact.createdAt || a.order - b.order);
  const out: MemoryFact[] = [];
  let spent = 0;
  for (const { fact } of scored) {
    const cost = factCost(fact);
    if (spent + cost > budgetTokens) continue;
    spent += cost;
    out.push(fact);
  }
  return out;
}

/** What a pinned fact costs, in the prompt's approximate tokens (its line and bullet). */
function factCost(fact: MemoryFact): number {
  return promptTokens(fact.text) + 1;
}

/**
 * Approximate tokens of memory text: the history's words × 4/3, or the count of words the
 * segmenter finds when that is more (Chinese and Japanese have no spaces between words).
 */
export function promptTokens(text: string): number {
  return Math.max(approximateTokens(text), tokenize(text).length);
}
