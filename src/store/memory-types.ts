/**
 * The agent memory role of the store (docs/memory.md): a search index over a conversation's
 * older turns, filled lazily (never on the ingest or ack path), facts per sender, and
 * summaries of ranges of raw turns. Both backends implement it (src/store/sqlite/memory.ts,
 * src/store/postgres/memory.ts) with the policy shared in src/store/core/memory.ts, and pass
 * test/store/memory-conformance.ts.
 */

/** One answered message (or a context-only record) of a conversation, as memory sees it. */
export interface MemoryTurn {
  /** The message's store sequence: increasing within a conversation. */
  seq: number;
  messageId: string;
  conversationId: string;
  sender: string | null;
  channel: string;
  /** When the message arrived, Unix ms. */
  at: number;
  text: string;
  /** The bot's answer; null for a message kept as context only. */
  reply: string | null;
}

export interface MemoryHit extends MemoryTurn {
  /** Higher is a better match (BM25 in SQLite, ts_rank in PostgreSQL): comparable within one search only. */
  score: number;
}

/** Whose facts: the sender's channel identity, never anything a message says. */
export interface SenderKey {
  channel: string;
  senderId: string;
}

export interface MemoryFact extends SenderKey {
  /** Derived from the sender and the text: saving the same fact twice keeps one. */
  id: string;
  text: string;
  createdAt: number;
}

export interface MemorySummary {
  conversationId: string;
  /** The first and last raw turn it covers (inclusive); summaries never cover summaries. */
  fromSeq: number;
  toSeq: number;
  turns: number;
  text: string;
  createdAt: number;
}

/** What `forgetConversation` removed. */
export interface MemoryDeletion {
  summaries: number;
  turns: number;
  facts: number;
}

export interface MemoryStore {
  /**
   * Index up to `max` of the conversation's finished turns not indexed yet: those after its
   * watermark and before its oldest unfinished message (so a turn that finishes later is not
   * skipped), never those before its "forgotten" mark. Returns how many were indexed.
   */
  indexTurns(conversationId: string, max: number): Promise<number>;
  /** The indexed turns matching any of `terms` (from `tokenize`), best first. No terms: none. */
  searchTurns(conversationId: string, terms: readonly string[], limit: number): Promise<MemoryHit[]>;

  /**
   * Keep a fact for a sender. The same text again is no new fact (`added: false`). Throws
   * MEMORY_FACTS_FULL when the sender has `maxPerSender` facts already.
   */
  addFact(key: SenderKey, text: string, maxPerSender: number): Promise<{ fact: MemoryFact; added: boolean }>;
  /** A sender's facts, newest first. */
  listFacts(key: SenderKey): Promise<MemoryFact[]>;
  /** Delete some (by id) or all of a sender's facts. Returns how many. */
  deleteFacts(key: SenderKey, ids: readonly string[] | 'all'): Promise<number>;

  /**
   * The next `size` finished raw turns with no summary yet: after the newest summary and the
   * forgotten mark, before the message `beforeMessageId` (the oldest turn of the prompt's
   * history window) and before any unfinished message. Undefined until a whole block exists,
   * so every node cuts the same ranges.
   */
  nextSummaryBlock(conversationId: string, beforeMessageId: string, size: number): Promise<MemoryTurn[] | undefined>;
  /** Store a summary once per range: false when its range exists already or was forgotten. */
  addSummary(summary: Omit<MemorySummary, 'createdAt'>): Promise<boolean>;
  /** The summaries of turns before the message `beforeMessageId`, oldest first. */
  listSummaries(conversationId: string, beforeMessageId: string): Promise<MemorySummary[]>;

  /**
   * Delete the conversation's summaries and index and the facts of everyone who wrote in it,
   * and mark everything stored so far as forgotten: it is never indexed or summarised again.
   */
  forgetConversation(conversationId: string): Promise<MemoryDeletion>;

  /**
   * Retention: delete indexed turns said, and summaries made, more than `olderThanMs` ago (the
   * messages they came from are purged by then). Facts stay: a sender asked for them. Returns how many.
   */
  purge(olderThanMs: number): Promise<number>;
}
