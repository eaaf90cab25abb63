import type Database from 'better-sqlite3';
import { factId, factsFull, fts5Query, stableTurnsWhere, toFact, toHit, toSummary, turnTokens, wholeBlock, type FactRow, type MessageTurnRow, type SummaryRow, type TurnRow } from '../core/memory.js';
import type { MemoryDeletion, MemoryFact, MemoryHit, MemoryStore, MemorySummary, MemoryTurn, SenderKey } from '../memory-types.js';

/** What the memory tables need from the SQLite queue that owns the file. */
export interface SqliteMemoryHost {
  readonly db: Database.Database;
  now(): number;
  /** One transaction, noted for the WAL syncer. */
  write<T>(fn: () => T): T;
  synced(): Promise<void>;
  assertOpen(): void;
  assertWritable(): void;
}

const STABLE = stableTurnsWhere('messages', '@c');
const MESSAGE_TURN = `m.seq, m.id, m.conversation_id, m.sender, m.channel, m.created_at, m.text, json_extract(m.reply, '$.text') AS reply_text`;
const SEQ_OF = `(SELECT seq FROM messages WHERE id = @before AND conversation_id = @c)`;

/**
 * Agent memory in the SQLite file: the turn index is an FTS5 table (BM25) whose rowid is the
 * turn's message seq, beside a plain table of what each turn said. One process owns the file,
 * so indexing needs no lock beyond its transaction.
 */
export class SqliteMemory implements MemoryStore {
  private readonly stmt;

  constructor(private readonly host: SqliteMemoryHost) {
    const db = host.db;
    this.stmt = {
      state: db.prepare<{ c: string }, { indexed_seq: number; forgotten_seq: number }>('SELECT indexed_seq, forgotten_seq FROM memory_state WHERE conversation_id = @c'),
      unindexed: db.prepare<{ c: string; after: number; max: number }, MessageTurnRow>(`SELECT ${MESSAGE_TURN} FROM messages m WHERE ${STABLE} AND m.seq > @after ORDER BY m.seq LIMIT @max`),
      setIndexed: db.prepare(`INSERT INTO memory_state (conversation_id, indexed_seq) VALUES (@c, @seq) ON CONFLICT (conversation_id) DO UPDATE SET indexed_seq = max(indexed_seq, excluded.indexed_seq)`),
      insertTurn: db.prepare(`INSERT OR IGNORE INTO memory_turns (seq, conversation_id, message_id, sender, channel, at, text, reply) VALUES (@seq, @c, @messageId, @sender, @channel, @at, @text, @reply)`),
      insertWords: db.prepare('INSERT INTO memory_fts (rowid, tokens) VALUES (@seq, @tokens)'),
      search: db.prepare<{ c: string; q: string; limit: number }, TurnRow & { score: number }>(`
        SELECT t.seq, t.message_id, t.conversation_id, t.sender, t.channel, t.at, t.text, t.reply, -bm25(memory_fts) AS score
        FROM memory_fts JOIN memory_turns t ON t.seq = memory_fts.rowid
        WHERE memory_fts MATCH @q AND t.conversation_id = @c
        ORDER BY bm25(memory_fts), t.seq DESC LIMIT @limit`),
      listFacts: db.prepare<{ channel: string; sender: string }, FactRow>('SELECT id, channel, sender_id, text, created_at FROM memory_facts WHERE channel = @channel AND sender_id = @sender ORDER BY created_at DESC, id'),
      factById: db.prepare<{ id: string }, FactRow>('SELECT id, channel, sender_id, text, created_at FROM memory_facts WHERE id = @id'),
      countFacts: db.prepare<{ channel: string; sender: string }, { n: number }>('SELECT count(*) AS n FROM memory_facts WHERE channel = @channel AND sender_id = @sender'),
      insertFact: db.prepare('INSERT INTO memory_facts (id, channel, sender_id, text, created_at) VALUES (@id, @channel, @sender, @text, @at)'),
      deleteFact: db.prepare('DELETE FROM memory_facts WHERE id = @id AND channel = @channel AND sender_id = @sender'),
      deleteAllFacts: db.prepare('DELETE FROM memory_facts WHERE channel = @channel AND sender_id = @sender'),
      block: db.prepare<{ c: string; before: string; size: number }, MessageTurnRow>(`
        SELECT ${MESSAGE_TURN} FROM messages m
        WHERE ${STABLE} AND m.seq < ${SEQ_OF}
          AND m.seq > max(COALESCE((SELECT max(to_seq) FROM memory_summaries WHERE conversation_id = @c), 0), COALESCE((SELECT forgotten_seq FROM memory_state WHERE conversation_id = @c), 0))
        ORDER BY m.seq LIMIT @size`),
      addSummary: db.prepare(`
        INSERT OR IGNORE INTO memory_summaries (conversation_id, from_seq, to_seq, turns, text, created_at)
        SELECT @c, @from, @to, @turns, @text, @at
        WHERE @from > COALESCE((SELECT forgotten_seq FROM memory_state WHERE conversation_id = @c), 0)`),
      summaries: db.prepare<{ c: string; before: string }, SummaryRow>(`SELECT * FROM memory_summaries WHERE conversation_id = @c AND to_seq < COALESCE(${SEQ_OF}, 0) ORDER BY from_seq`),
      senders: db.prepare<{ c: string }, { channel: string; sender: string }>('SELECT DISTINCT channel, sender FROM messages WHERE conversation_id = @c AND sender IS NOT NULL'),
      deleteWords: db.prepare('DELETE FROM memory_fts WHERE rowid IN (SELECT seq FROM memory_turns WHERE conversation_id = @c)'),
      deleteTurns: db.prepare('DELETE FROM memory_turns WHERE conversation_id = @c'),
      deleteSummaries: db.prepare('DELETE FROM memory_summaries WHERE conversation_id = @c'),
      purgeWords: db.prepare('DELETE FROM memory_fts WHERE rowid IN (SELECT seq FROM memory_turns WHERE at < @cutoff)'),
      purgeTurns: db.prepare('DELETE FROM memory_turns WHERE at < @cutoff'),
      purgeSummaries: db.prepare('DELETE FROM memory_summaries WHERE created_at < @cutoff'),
      forget: db.prepare(`
        INSERT INTO memory_state (conversation_id, indexed_seq, forgotten_seq)
        SELECT @c, s, s FROM (SELECT COALESCE(max(seq), 0) AS s FROM messages WHERE conversation_id = @c)
        WHERE true
        ON CONFLICT (conversation_id) DO UPDATE SET indexed_seq = max(indexed_seq, excluded.indexed_seq), forgotten_seq = max(forgotten_seq, excluded.forgotten_seq)`),
    };
  }

  async indexTurns(conversationId: string, max: number): Promise<number> {
    this.host.assertWritable();
    const c = conversationId;
    const n = this.host.write(() => {
      const state = this.stmt.state.get({ c });
      const after = Math.max(state?.indexed_seq ?? 0, state?.forgotten_seq ?? 0);
      const rows = this.stmt.unindexed.all({ c, after, max });
      for (const r of rows) {
        const turn = { seq: r.seq, c, messageId: r.id, sender: r.sender, channel: r.channel, at: r.created_at, text: r.text, reply: r.reply_text };
        if (this.stmt.insertTurn.run(turn).changes > 0) this.stmt.insertWords.run({ seq: r.seq, tokens: turnTokens(turn).join(' ') });
      }
      const last = rows.at(-1);
      if (last) this.stmt.setIndexed.run({ c, seq: last.seq });
      return rows.length;
    });
    if (n > 0) await this.host.synced();
    return n;
  }

  async searchTurns(conversationId: string, terms: readonly string[], limit: number): Promise<MemoryHit[]> {
    this.host.assertOpen();
    if (terms.length === 0 || limit <= 0) return [];
    return this.stmt.search.all({ c: conversationId, q: fts5Query(terms), limit }).map(toHit);
  }

  async addFact(key: SenderKey, text: string, maxPerSender: number): Promise<{ fact: MemoryFact; added: boolean }> {
    this.host.assertWritable();
    const id = factId(key, text);
    const params = { channel: key.channel, sender: key.senderId };
    const result = this.host.write(() => {
      const existing = this.stmt.factById.get({ id });
      if (existing) return { fact: toFact(existing), added: false };
      if ((this.stmt.countFacts.get(params)?.n ?? 0) >= maxPerSender) throw factsFull(key, maxPerSender);
      const at = this.host.now();
      this.stmt.insertFact.run({ id, ...params, text, at });
      return { fact: { id, channel: key.channel, senderId: key.senderId, text, createdAt: at }, added: true };
    });
    await this.host.synced();
    return result;
  }

  async listFacts(key: SenderKey): Promise<MemoryFact[]> {
    this.host.assertOpen();
    return this.stmt.listFacts.all({ channel: key.channel, sender: key.senderId }).map(toFact);
  }

  async deleteFacts(key: SenderKey, ids: readonly string[] | 'all'): Promise<number> {
    this.host.assertWritable();
    const params = { channel: key.channel, sender: key.senderId };
    const n = this.host.write(() => (ids === 'all' ? this.stmt.deleteAllFacts.run(params).changes : ids.reduce((sum, id) => sum + this.stmt.deleteFact.run({ ...params, id }).changes, 0)));
    await this.host.synced();
    return n;
  }

  async nextSummaryBlock(conversationId: string, beforeMessageId: string, size: number): Promise<MemoryTurn[] | undefined> {
    this.host.assertOpen();
    return wholeBlock(this.stmt.block.all({ c: conversationId, before: beforeMessageId, size }), size);
  }

  async addSummary(summary: Omit<MemorySummary, 'createdAt'>): Promise<boolean> {
    this.host.assertWritable();
    const { conversationId: c, fromSeq, toSeq, turns, text } = summary;
    const added = this.host.write(() => this.stmt.addSummary.run({ c, from: fromSeq, to: toSeq, turns, text, at: this.host.now() }).changes > 0);
    await this.host.synced();
    return added;
  }

  async listSummaries(conversationId: string, beforeMessageId: string): Promise<MemorySummary[]> {
    this.host.assertOpen();
    return this.stmt.summaries.all({ c: conversationId, before: beforeMessageId }).map(toSummary);
  }

  async forgetConversation(conversationId: string): Promise<MemoryDeletion> {
    this.host.assertWritable();
    const c = conversationId;
    const deletion = this.host.write(() => {
      let facts = 0;
      for (const s of this.stmt.senders.all({ c })) facts += this.stmt.deleteAllFacts.run({ channel: s.channel, sender: s.sender }).changes;
      this.stmt.deleteWords.run({ c });
      const turns = this.stmt.deleteTurns.run({ c }).changes;
      const summaries = this.stmt.deleteSummaries.run({ c }).changes;
      this.stmt.forget.run({ c });
      return { summaries, turns, facts };
    });
    await this.host.synced();
    return deletion;
  }

  async purge(olderThanMs: number): Promise<number> {
    this.host.assertWritable();
    const cutoff = this.host.now() - olderThanMs;
    const n = this.host.write(() => {
      this.stmt.purgeWords.run({ cutoff });
      return this.stmt.purgeTurns.run({ cutoff }).changes + this.stmt.purgeSummaries.run({ cutoff }).changes;
    });
    if (n > 0) await this.host.synced();
    return n;
  }
}
