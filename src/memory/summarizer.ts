import type { Logger } from 'pino';
import type { ChatMessage, LanguageModel } from '../models/types.js';
import type { MemoryStore, MemoryTurn } from '../store/types.js';

export interface SummarizerOptions {
  store: MemoryStore;
  model: LanguageModel;
  /** Raw turns per summary (memory.summaries.block_turns). */
  blockTurns: number;
  maxTokens: number;
  /** Conversations summarised at once by this node. */
  concurrency: number;
  maxBlocksPerRun: number;
  log: Logger;
  /** Told each outcome (metrics). */
  onOutcome?: (outcome: 'made' | 'exists' | 'failed') => void;
}

const INSTRUCTIONS =
  'You summarise part of a chat conversation for the assistant who takes part in it, so it can remember it later. ' +
  'Write a short factual summary (at most a few sentences) of what was said, asked, decided and promised, naming who said what. ' +
  'Write only the summary.';

/**
 * Summaries of raw turns that fell out of the prompt's history window, made after the reply
 * (off its critical path) with the configured language model. One run per conversation at a
 * time (a request meanwhile runs once more after it), at most `concurrency` conversations at
 * once. Each run cuts the next whole block after the newest summary, so ranges never overlap
 * and never include a summary; the store keeps one summary per range across nodes. A failed
 * call leaves nothing: the same block is tried again on a later run.
 */
export class Summarizer {
  private readonly running = new Map<string, { again: string | undefined; done: Promise<void> }>();
  private readonly waiting: Array<() => void> = [];
  private active = 0;
  private readonly abort = new AbortController();

  constructor(private readonly options: SummarizerOptions) {}

  /** Summarise what is due before message `beforeMessageId` (the window's oldest turn); never throws. */
  request(conversationId: string, beforeMessageId: string): void {
    if (this.abort.signal.aborted) return;
    const current = this.running.get(conversationId);
    if (current) {
      current.again = beforeMessageId;
      return;
    }
    const entry: { again: string | undefined; done: Promise<void> } = { again: undefined, done: Promise.resolve() };
    this.running.set(conversationId, entry);
    entry.done = this.loop(conversationId, beforeMessageId, entry).finally(() => this.running.delete(conversationId));
  }

  /** Resolves once no run is in progress (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((e) => e.done));
  }

  async close(): Promise<void> {
    this.abort.abort();
    for (const wake of this.waiting.splice(0)) wake();
    await this.idle();
  }

  private async loop(conversationId: string, before: string, entry: { again: string | undefined }): Promise<void> {
    await this.slot();
    try {
      let next: string | undefined = before;
      while (next !== undefined && !this.abort.signal.aborted) {
        entry.again = undefined;
        await this.run(conversationId, next);
        next = entry.again;
      }
    } catch (err) {
      this.options.log.warn({ err, event: 'memory.summary_failed', conversationId }, `could not summarise conversation ${conversationId}; it is tried again after a later reply`);
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private async slot(): Promise<void> {
    while (this.active >= this.options.concurrency && !this.abort.signal.aborted) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
  }

  private async run(conversationId: string, before: string): Promise<void> {
    const { store, blockTurns } = this.options;
    for (let i = 0; i < this.options.maxBlocksPerRun && !this.abort.signal.aborted; i++) {
      const block = await store.nextSummaryBlock(conversationId, before, blockTurns);
      if (!block) return;
      const text = await this.summarise(block);
      if (text === undefined) {
        this.options.onOutcome?.('failed');
        return;
      }
      const first = block[0] as MemoryTurn;
      const last = block[block.length - 1] as MemoryTurn;
      const added = await store.addSummary({ conversationId, fromSeq: first.seq, toSeq: last.seq, turns: block.length, text });
      this.options.onOutcome?.(added ? 'made' : 'exists');
      if (!added) return;
    }
  }

  /** The model's summary of raw turns, or undefined when it failed or said nothing (nothing is stored). */
  private async summarise(block: readonly MemoryTurn[]): Promise<string | undefined> {
    const transcript = block.map(turnLines).join('\n');
    const messages: ChatMessage[] = [
      { role: 'system', content: INSTRUCTIONS },
      { role: 'user', content: `The conversation so far:\n\n${transcript}` },
    ];
    try {
      const result = await this.options.model.doGenerate({ messages, maxTokens: this.options.maxTokens, signal: this.abort.signal });
      const text = result.text.trim();
      return text.length > 0 ? text : undefined;
    } catch (err) {
      if (!this.abort.signal.aborted) this.options.log.warn({ err, event: 'memory.summary_failed', conversationId: block[0]?.conversationId }, 'the model could not summarise older turns; they are tried again later');
      return undefined;
    }
  }
}

function turnLines(turn: MemoryTurn): string {
  const who = turn.sender ?? 'user';
  const when = new Date(turn.at).toISOString();
  return turn.reply === null ? `[${when}] ${who}: ${turn.text}` : `[${when}] ${who}: ${turn.text}\n[${when}] assistant: ${turn.reply}`;
}
