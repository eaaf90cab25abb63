import type pg from 'pg';
import { factId, factsFull, stableTurnsWhere, toFact, toHit, toSummary, tsQuery, tsVector, turnTokens, wholeBlock, type FactRow, type MessageTurnRow, type SummaryRow, type TurnRow } from '../core/memory.js';
import type { MemoryDeletion, MemoryFact, MemoryHit, MemoryStore, MemorySummary, MemoryTurn, SenderKey } from '../memory-types.js';
import { retrying, transaction } from './tx.js';

/** What the memory tables need from the PostgreSQL queue they live beside. */
export interface PostgresMemoryHost {
  readonly pool: pg.Pool;
  /** The quoted schema. */
  readonly schema: string;
  now(): number;
  assertOpen(): void;
}

/** Every statement of the memory tables for the quoted schema `s`. */
export function buildMemorySql(s: string) {
  const messages = `${s}.messages`;
  const STABLE = stableTurnsWhere(messages, '$1');
  const MESSAGE_TURN = `m.seq, m.id, m.conversation_id, m.sender, m.channel, m.created_at, m.text, m.reply->>'text' AS reply_text`;
  const seqOf = (p: string) => `(SELECT seq FROM ${messages} WHERE id = ${p} AND conversation_id = $1)`;
  const forgotten = `COALESCE((SELECT forgotten_seq FROM ${s}.memory_state WHERE conversation_id = $1), 0)`;
  return {
    /** With `state` (FOR UPDATE): the conversation's state row exists and is locked, so nodes index it one at a time. */
    ensureState: `INSERT INTO ${s}.memory_state (conversation_id) VALUES ($1) ON CONFLICT DO NOTHING`,
    state: `SELECT indexed_seq, forgotten_seq FROM ${s}.memory_state WHERE conversation_id = $1 FOR UPDATE`,
    unindexed: `SELECT ${MESSAGE_TURN} FROM ${messages} m WHERE ${STABLE} AND m.seq > $2 ORDER BY m.seq LIMIT $3`,
    insertTurns: `
      INSERT INTO ${s}.memory_turns (seq, conversation_id, message_id, sender, channel, at, text, reply, lexemes)
      SELECT t.seq, $1, t.message_id, t.sender, t.channel, t.at, t.text, t.reply, t.words::tsvector
      FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[]) AS t(seq, message_id, sender, channel, at, text, reply, words)
      ON CONFLICT (seq) DO NOTHING`,
    setIndexed: `UPDATE ${s}.memory_state SET indexed_seq = GREATEST(indexed_seq, $2) WHERE conversation_id = $1`,
    search: `
      SELECT t.seq, t.message_id, t.conversation_id, t.sender, t.channel, t.at, t.text, t.reply, ts_rank(t.lexemes, q) AS score
      FROM ${s}.memory_turns t, CAST($2 AS tsquery) AS q
      WHERE t.conversation_id = $1 AND t.lexemes @@ q
      ORDER BY score DESC, t.seq DESC LIMIT $3`,
    /** Serialises fact changes of one sender across nodes, so the count bound holds. */
    lockSender: `SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))`,
    factById: `SELECT id, channel, sender_id, text, created_at FROM ${s}.memory_facts WHERE id = $1`,
    countFacts: `SELECT count(*)::int AS n FROM ${s}.memory_facts WHERE channel = $1 AND sender_id = $2`,
    insertFact: `INSERT INTO ${s}.memory_facts (id, channel, sender_id, text, created_at) VALUES ($1, $2, $3, $4, $5)`,
    listFacts: `SELECT id, channel, sender_id, text, created_at FROM ${s}.memory_facts WHERE channel = $1 AND sender_id = $2 ORDER BY created_at DESC, id`,
    deleteFacts: `DELETE FROM ${s}.memory_facts WHERE channel = $1 AND sender_id = $2 AND ($3::text[] IS NULL OR id = ANY($3::text[]))`,
    block: `
      SELECT ${MESSAGE_TURN} FROM ${messages} m
      WHERE ${STABLE} AND m.seq < ${seqOf('$2')}
        AND m.seq > GREATEST(COALESCE((SELECT max(to_seq) FROM ${s}.memory_summaries WHERE conversation_id = $1), 0), ${forgotten})
      ORDER BY m.seq LIMIT $3`,
    /** Waits for a deletion of the conversation's memory in progress (it holds the row FOR UPDATE). */
    shareState: `SELECT forgotten_seq FROM ${s}.memory_state WHERE conversation_id = $1 FOR SHARE`,
    addSummary: `
      INSERT INTO ${s}.memory_summaries (conversation_id, from_seq, to_seq, turns, text, created_at)
      SELECT $1, $2, $3, $4, $5, $6 WHERE $2 > ${forgotten}
      ON CONFLICT (conversation_id, from_seq) DO NOTHING`,
    summaries: `SELECT * FROM ${s}.memory_summaries WHERE conversation_id = $1 AND to_seq < COALESCE(${seqOf('$2')}, 0) ORDER BY from_seq`,
    forgetFacts: `
      DELETE FROM ${s}.memory_facts f USING (SELECT DISTINCT channel, sender FROM ${messages} WHERE conversation_id = $1 AND sender IS NOT NULL) w
      WHERE f.channel = w.channel AND f.sender_id = w.sender`,
    forgetTurns: `DELETE FROM ${s}.memory_turns WHERE conversation_id = $1`,
    forgetSummaries: `DELETE FROM ${s}.memory_summaries WHERE conversation_id = $1`,
    purgeTurns: `DELETE FROM ${s}.memory_turns WHERE at < $1`,
    purgeSummaries: `DELETE FROM ${s}.memory_summaries WHERE created_at < $1`,
    forgetMark: `
      INSERT INTO ${s}.memory_state AS st (conversation_id, indexed_seq, forgotten_seq)
      SELECT $1, x.s, x.s FROM (SELECT COALESCE(max(seq), 0) AS s FROM ${messages} WHERE conversation_id = $1) x
      ON CONFLICT (conversation_id) DO UPDATE SET indexed_seq = GREATEST(st.indexed_seq, EXCLUDED.indexed_seq), forgotten_seq = GREATEST(st.forgotten_seq, EXCLUDED.forgotten_seq)`,
  };
}

type MemorySql = ReturnType<typeof buildMemorySql>;

/**
 * Agent memory in the cluster's schema: the turn index is a tsvector of the words
 * src/text/tokens.ts made (a tsvector literal, so PostgreSQL's own parser never splits them
 * differently from SQLite) under a GIN index, ranked with ts_rank. Indexing locks the
 * conversation's memory_state row, so two nodes never index the same turns at once.
 */
export class PostgresMemory implements MemoryStore {
  private readonly sql: MemorySql;

  constructor(private readonly host: PostgresMemoryHost) {
    this.sql = buildMemorySql(host.schema);
  }

  private get pool(): pg.Pool {
    this.host.assertOpen();
    return this.host.pool;
  }

  async indexTurns(conversationId: string, max: number): Promise<number> {
    return transaction(this.pool, async (client) => {
      await client.query(this.sql.ensureState, [conversationId]);
      const state = (await client.query<{ indexed_seq: number; forgotten_seq: number }>(this.sql.state, [conversationId])).rows[0];
      const after = Math.max(state?.indexed_seq ?? 0, state?.forgotten_seq ?? 0);
      const rows = (await client.query<MessageTurnRow>(this.sql.unindexed, [conversationId, after, max])).rows;
      if (rows.length === 0) return 0;
      const words = rows.map((r) => tsVector(turnTokens({ text: r.text, reply: r.reply_text })));
      await client.query(this.sql.insertTurns, [
        conversationId,
        rows.map((r) => r.seq),
        rows.map((r) => r.id),
        rows.map((r) => r.sender),
        rows.map((r) => r.channel),
        rows.map((r) => r.created_at),
        rows.map((r) => r.text),
        rows.map((r) => r.reply_text),
        words,
      ]);
      await client.query(this.sql.setIndexed, [conversationId, rows.at(-1)?.seq]);
      return rows.length;
    });
  }

  async searchTurns(conversationId: string, terms: readonly string[], limit: number): Promise<MemoryHit[]> {
    if (terms.length === 0 || limit <= 0) return [];
    const { rows } = await retrying(() => this.pool.query<TurnRow & { score: number }>(this.sql.search, [conversationId, tsQuery(terms), limit]));
    return rows.map(toHit);
  }

  async addFact(key: SenderKey, text: string, maxPerSender: number): Promise<{ fact: MemoryFact; added: boolean }> {
    const id = factId(key, text);
    return transaction(this.pool, async (client) => {
      await client.query(this.sql.lockSender, [key.channel, key.senderId]);
      const existing = (await client.query<FactRow>(this.sql.factById, [id])).rows[0];
      if (existing) return { fact: toFact(existing), added: false };
      const n = (await client.query<{ n: number }>(this.sql.countFacts, [key.channel, key.senderId])).rows[0]?.n ?? 0;
      if (n >= maxPerSender) throw factsFull(key, maxPerSender);
      const at = this.host.now();
      await client.query(this.sql.insertFact, [id, key.channel, key.senderId, text, at]);
      return { fact: { id, channel: key.channel, senderId: key.senderId, text, createdAt: at }, added: true };
    });
  }

  async listFacts(key: SenderKey): Promise<MemoryFact[]> {
    return (await this.pool.query<FactRow>(this.sql.listFacts, [key.channel, key.senderId])).rows.map(toFact);
  }

  async deleteFacts(key: SenderKey, ids: readonly string[] | 'all'): Promise<number> {
    const result = await retrying(() => this.pool.query(this.sql.deleteFacts, [key.channel, key.senderId, ids === 'all' ? null : [...ids]]));
    return result.rowCount ?? 0;
  }

  async nextSummaryBlock(conversationId: string, beforeMessageId: string, size: number): Promise<MemoryTurn[] | undefined> {
    const { rows } = await this.pool.query<MessageTurnRow>(this.sql.block, [conversationId, beforeMessageId, size]);
    return wholeBlock(rows, size);
  }

  async addSummary(summary: Omit<MemorySummary, 'createdAt'>): Promise<boolean> {
    const { conversationId, fromSeq, toSeq, turns, text } = summary;
    // Under the state row's share lock: a summary made from turns read before a deletion
    // cannot slip in while that deletion commits; it sees the new mark and is refused.
    return transaction(this.pool, async (client) => {
      await client.query(this.sql.ensureState, [conversationId]);
      await client.query(this.sql.shareState, [conversationId]);
      const result = await client.query(this.sql.addSummary, [conversationId, fromSeq, toSeq, turns, text, this.host.now()]);
      return (result.rowCount ?? 0) > 0;
    });
  }

  async listSummaries(conversationId: string, beforeMessageId: string): Promise<MemorySummary[]> {
    return (await this.pool.query<SummaryRow>(this.sql.summaries, [conversationId, beforeMessageId])).rows.map(toSummary);
  }

  async forgetConversation(conversationId: string): Promise<MemoryDeletion> {
    return transaction(this.pool, async (client) => {
      // The state row's lock first: an index run of this conversation finishes before, or waits and then sees the mark.
      await client.query(this.sql.ensureState, [conversationId]);
      await client.query(this.sql.state, [conversationId]);
      const facts = (await client.query(this.sql.forgetFacts, [conversationId])).rowCount ?? 0;
      const turns = (await client.query(this.sql.forgetTurns, [conversationId])).rowCount ?? 0;
      const summaries = (await client.query(this.sql.forgetSummaries, [conversationId])).rowCount ?? 0;
      await client.query(this.sql.forgetMark, [conversationId]);
      return { summaries, turns, facts };
    });
  }

  async purge(olderThanMs: number): Promise<number> {
    const cutoff = this.host.now() - olderThanMs;
    const turns = await retrying(() => this.pool.query(this.sql.purgeTurns, [cutoff]));
    const summaries = await retrying(() => this.pool.query(this.sql.purgeSummaries, [cutoff]));
    return (turns.rowCount ?? 0) + (summaries.rowCount ?? 0);
  }
}
