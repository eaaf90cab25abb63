import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { PincerConfig } from '../config/schema.js';
import { PincerError } from '../errors.js';
import type { ChatMessage, LanguageModel } from '../models/types.js';
import { historyWindow, SCAN_LIMIT, type HistoryReader } from '../responders/history.js';
import type { MemoryDeletion, MemoryFact, MemoryHit, MemoryStore, MemorySummary, MessageRecord, SenderKey } from '../store/types.js';
import { distinctTokens } from '../text/tokens.js';
import { factsNamed, factText, pinnedFacts, promptTokens } from './facts.js';
import { Summarizer } from './summarizer.js';

export type MemoryConfig = PincerConfig['memory'];

/** Index batches one search may write before it searches what is indexed. */
const INDEX_ROUNDS = 8;

export interface MemoryServiceOptions {
  store: MemoryStore;
  /** The conversation's newest messages, to find the prompt's history window. */
  messages: HistoryReader;
  config: MemoryConfig;
  /** models.history_tokens: the window whose older turns summaries cover. */
  historyTokens: number;
  /** The language model summaries are made with; absent: no summaries (the built-in model cannot summarise). */
  model?: LanguageModel;
  log: Logger;
  metrics?: Registry;
}

/**
 * Agent memory for one Pincer instance (docs/memory.md): what the memory tools and commands
 * do, the memory part of each prompt, and the summaries made after replies. Storage is the
 * store's memory role; everything here is backend-neutral.
 */
export class MemoryService {
  readonly config: MemoryConfig;
  private readonly summarizer: Summarizer | undefined;
  /** Messages whose prompt asked for summaries, by id: summarised once their reply is stored. */
  private readonly pending = new Map<string, { conversationId: string; before: string }>();
  private readonly counter: Counter<'op' | 'outcome'> | undefined;

  constructor(private readonly options: MemoryServiceOptions) {
    this.config = options.config;
    const { summaries } = options.config;
    if (options.model && summaries.enabled) {
      this.summarizer = new Summarizer({
        store: options.store,
        model: options.model,
        blockTurns: summaries.block_turns,
        maxTokens: summaries.max_tokens,
        concurrency: summaries.concurrency,
        maxBlocksPerRun: summaries.max_blocks_per_run,
        log: options.log,
        onOutcome: (outcome) => this.count('summary', outcome),
      });
    }
    if (options.metrics) {
      this.counter = new Counter({ name: 'pincer_memory_operations_total', help: 'Agent memory operations by outcome (search, remember, forget, summary, delete)', labelNames: ['op', 'outcome'] as const, registers: [options.metrics] });
    }
  }

  /** Whether summaries are made (a language model is configured and summaries are on). */
  get summarizes(): boolean {
    return this.summarizer !== undefined;
  }

  /** The best matching older turns of a conversation; the index catches up first (at most INDEX_ROUNDS batches). */
  async search(conversationId: string, query: string, limit = this.config.search_limit): Promise<MemoryHit[]> {
    const terms = distinctTokens(query, 32);
    if (terms.length === 0) throw new PincerError('MEMORY_QUERY_INVALID', 'the search query has no words to look for');
    // The index catches up in batches (one transaction each), a bounded number per search.
    for (let round = 0; round < INDEX_ROUNDS && (await this.options.store.indexTurns(conversationId, this.config.index_batch)) === this.config.index_batch; round++);
    const hits = await this.options.store.searchTurns(conversationId, terms, Math.min(Math.max(1, Math.floor(limit)), this.config.max_search_limit));
    this.count('search', hits.length > 0 ? 'found' : 'none');
    return hits;
  }

  async remember(key: SenderKey, text: string): Promise<{ fact: MemoryFact; added: boolean }> {
    const result = await this.options.store.addFact(key, factText(text, this.config.max_fact_length), this.config.max_facts);
    this.count('remember', result.added ? 'added' : 'exists');
    return result;
  }

  facts(key: SenderKey): Promise<MemoryFact[]> {
    return this.options.store.listFacts(key);
  }

  /** Forget `all` of a sender's facts, one by id, or those containing `what`. Returns how many went. */
  async forget(key: SenderKey, what: string): Promise<number> {
    const named = factsNamed(await this.options.store.listFacts(key), what);
    const n = named === 'all' || named.length > 0 ? await this.options.store.deleteFacts(key, named) : 0;
    this.count('forget', n > 0 ? 'removed' : 'none');
    return n;
  }

  async forgetConversation(conversationId: string): Promise<MemoryDeletion> {
    const deletion = await this.options.store.forgetConversation(conversationId);
    this.count('delete', 'ok');
    return deletion;
  }

  /**
   * The memory part of a prompt, placed after the system prompt: the sender's pinned facts,
   * then the summaries of the turns before the history window. A range with no summary yet
   * (or whose summary failed) is simply absent. Asks for the summaries due, to be made once
   * this message's reply is stored.
   */
  async prompt(message: MessageRecord): Promise<ChatMessage[]> {
    const out: ChatMessage[] = [];
    if (message.sender && this.config.facts_tokens > 0) {
      const facts = pinnedFacts(await this.options.store.listFacts({ channel: message.channel, senderId: message.sender }), message.text, this.config.facts_tokens);
      if (facts.length > 0) out.push({ role: 'system', content: `What the person you are talking to asked you to remember (newest and most relevant first):\n${facts.map((f) => `- ${f.text}`).join('\n')}` });
    }
    const records = this.options.historyTokens > 0 ? await this.options.messages.latest(message.conversationId, SCAN_LIMIT) : [];
    const windowStart = historyWindow(records, message.id, this.options.historyTokens)[0]?.id ?? message.id;
    const summaries = pinnedSummaries(await this.options.store.listSummaries(message.conversationId, windowStart), this.config.summaries.tokens);
    if (summaries.length > 0) {
      out.push({ role: 'system', content: `Summaries of earlier parts of this conversation, oldest first:\n${summaries.map((s) => `- ${s.text}`).join('\n')}` });
    }
    if (this.summarizer) this.notePending(message.id, message.conversationId, windowStart);
    return out;
  }

  /** A message's status: once its reply is stored (done), the summaries it noted are made. */
  onStatus(id: string, status: string): void {
    const noted = this.pending.get(id);
    if (!noted || (status !== 'done' && status !== 'dead')) return;
    this.pending.delete(id);
    if (status === 'done') this.summarizer?.request(noted.conversationId, noted.before);
  }

  /** Resolves once no summary is being made (tests). */
  async idle(): Promise<void> {
    await this.summarizer?.idle();
  }

  async close(): Promise<void> {
    this.pending.clear();
    await this.summarizer?.close();
  }

  private notePending(id: string, conversationId: string, before: string): void {
    // Bounded: a message whose status this node never hears (it moved to another node) must not pile up.
    if (this.pending.size >= 1000) this.pending.delete(this.pending.keys().next().value as string);
    this.pending.set(id, { conversationId, before });
  }

  private count(op: string, outcome: string): void {
    this.counter?.inc({ op, outcome });
  }
}

/** The newest summaries that fit `budgetTokens`, oldest first. */
function pinnedSummaries(summaries: readonly MemorySummary[], budgetTokens: number): MemorySummary[] {
  const kept: MemorySummary[] = [];
  let spent = 0;
  for (let i = summaries.length - 1; i >= 0; i--) {
    const s = summaries[i] as MemorySummary;
    const cost = promptTokens(s.text) + 4;
    if (spent + cost > budgetTokens) break;
    spent += cost;
    kept.unshift(s);
  }
  return kept;
}
