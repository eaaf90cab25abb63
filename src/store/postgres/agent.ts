import type pg from 'pg';
import { DECIDED_STATES_SQL, EXPIRY_DECIDER, toApproval, toJournalEntry, type ApprovalRow, type JournalRow } from '../core/agent.js';
import { deleteInChunks } from '../core/purge.js';
import { storedJson } from '../core/stored-json.js';
import type { AgentStore, ApprovalInsert, ApprovalListOptions, ApprovalRecord, ClaimedMessage, JournalEntry } from '../types.js';
import { retrying } from './tx.js';

type Lease = Pick<ClaimedMessage, 'id' | 'lease'>;

export interface PostgresAgentHost {
  readonly pool: pg.Pool;
  /** The quoted schema. */
  readonly schema: string;
  now(): number;
  assertOpen(): void;
  isClosed(): boolean;
}

/**
 * The statements of the agent's tables in the schema `s` (quoted). A fenced write takes a
 * share lock on its message's row: a worker re-claiming the message (an UPDATE of its lease)
 * waits for the write to commit, and after that the old lease no longer matches.
 */
function buildAgentSql(s: string) {
  const fence = `fence AS (SELECT 1 FROM ${s}.messages WHERE id = $1 AND lease = $2 AND state = 'processing' FOR SHARE)`;
  return {
    journal: `SELECT step, call, state, entry, attempt FROM ${s}.agent_journal WHERE message_id = $1 ORDER BY step, call`,
    /** $1 message, $2 lease, $3-$7 the rows' step, call, state, entry, attempt; $8 now. */
    writeJournal: `
      WITH ${fence}, ins AS (
        INSERT INTO ${s}.agent_journal (message_id, step, call, state, entry, attempt, updated_at)
        SELECT $1, step, call, state, entry::jsonb, attempt, $8
        FROM unnest($3::int[], $4::int[], $5::text[], $6::text[], $7::int[]) AS t(step, call, state, entry, attempt)
        WHERE EXISTS (SELECT 1 FROM fence)
        ON CONFLICT (message_id, step, call) DO UPDATE SET state = excluded.state, entry = excluded.entry, attempt = excluded.attempt, updated_at = excluded.updated_at
        RETURNING 1
      )
      SELECT EXISTS (SELECT 1 FROM fence) AS held, (SELECT count(*) FROM ins) AS n`,
    purgeJournal: `DELETE FROM ${s}.agent_journal WHERE ctid IN (SELECT ctid FROM ${s}.agent_journal WHERE updated_at < $1 LIMIT $2)`,
    purgeApprovals: `DELETE FROM ${s}.approvals WHERE id IN (SELECT id FROM ${s}.approvals WHERE created_at < $1 AND state <> 'pending' AND continuation_id IS NOT NULL LIMIT $2)`,
    /** $1 message, $2 lease, $3.. the approval; $12 now. */
    requestApproval: `
      WITH ${fence}, ins AS (
        INSERT INTO ${s}.approvals (id, message_id, conversation_id, channel, sender, tool, arguments, request, state, created_at, expires_at)
        SELECT $3, $1, $4, $5, $6, $7, $8, $9::jsonb, 'pending', $11, $10
        WHERE EXISTS (SELECT 1 FROM fence)
        ON CONFLICT (id) DO NOTHING
      )
      SELECT EXISTS (SELECT 1 FROM fence) AS held`,
    approval: `SELECT * FROM ${s}.approvals WHERE id = $1`,
    list: `SELECT * FROM ${s}.approvals WHERE ($1::text IS NULL OR state = $1) ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
    decide: `UPDATE ${s}.approvals SET state = $1, decided_at = $2, decided_by = $3 WHERE id = $4 AND state = 'pending' RETURNING *`,
    expire: `UPDATE ${s}.approvals SET state = 'expired', decided_at = $1, decided_by = $2 WHERE state = 'pending' AND expires_at <= $1 RETURNING *`,
    undispatched: `SELECT * FROM ${s}.approvals WHERE continuation_id IS NULL AND state IN ${DECIDED_STATES_SQL} ORDER BY decided_at LIMIT $1`,
    dispatched: `UPDATE ${s}.approvals SET continuation_id = $1 WHERE id = $2`,
  };
}

/** The tool loop's journal and approvals in the cluster's schema; any node reads and decides. */
export class PostgresAgentStore implements AgentStore {
  private readonly sql: ReturnType<typeof buildAgentSql>;

  constructor(private readonly host: PostgresAgentHost) {
    this.sql = buildAgentSql(host.schema);
  }

  private query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    this.host.assertOpen();
    return retrying(() => this.host.pool.query<R>(text, values));
  }

  async journal(messageId: string): Promise<JournalEntry[]> {
    return (await this.query<JournalRow>(this.sql.journal, [messageId])).rows.map(toJournalEntry);
  }

  async writeJournal(claim: Lease, entries: readonly JournalEntry[]): Promise<boolean> {
    const { rows } = await this.query<{ held: boolean }>(this.sql.writeJournal, [
      claim.id,
      claim.lease,
      entries.map((e) => e.step),
      entries.map((e) => e.call),
      entries.map((e) => e.state),
      entries.map((e) => storedJson(e.entry)),
      entries.map((e) => e.attempt),
      this.host.now(),
    ]);
    return rows[0]?.held === true;
  }

  async purge(olderThanMs: number): Promise<number> {
    const cutoff = this.host.now() - olderThanMs;
    const stopped = () => this.host.isClosed();
    const chunk = (text: string) => async (limit: number) => (await this.query(text, [cutoff, limit])).rowCount ?? 0;
    return (await deleteInChunks(chunk(this.sql.purgeJournal), stopped)) + (await deleteInChunks(chunk(this.sql.purgeApprovals), stopped));
  }

  async requestApproval(claim: Lease, a: ApprovalInsert): Promise<ApprovalRecord | null> {
    const { rows } = await this.query<{ held: boolean }>(this.sql.requestApproval, [
      claim.id,
      claim.lease,
      a.id,
      a.conversationId,
      a.channel,
      a.sender,
      a.tool,
      a.arguments,
      storedJson(a.request),
      a.expiresAt,
      this.host.now(),
    ]);
    if (rows[0]?.held !== true) return null;
    return (await this.getApproval(a.id)) ?? null;
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const row = (await this.query<ApprovalRow>(this.sql.approval, [id])).rows[0];
    return row ? toApproval(row) : undefined;
  }

  async listApprovals(options: ApprovalListOptions): Promise<ApprovalRecord[]> {
    return (await this.query<ApprovalRow>(this.sql.list, [options.state ?? null, options.limit, options.offset ?? 0])).rows.map(toApproval);
  }

  async decideApproval(id: string, decision: 'approved' | 'denied', by: string): Promise<{ approval: ApprovalRecord; decided: boolean } | undefined> {
    const changed = (await this.query<ApprovalRow>(this.sql.decide, [decision, this.host.now(), by, id])).rows[0];
    if (changed) return { approval: toApproval(changed), decided: true };
    const current = await this.getApproval(id);
    return current ? { approval: current, decided: false } : undefined;
  }

  async expireApprovals(): Promise<ApprovalRecord[]> {
    return (await this.query<ApprovalRow>(this.sql.expire, [this.host.now(), EXPIRY_DECIDER])).rows.map(toApproval);
  }

  async undispatchedApprovals(limit: number): Promise<ApprovalRecord[]> {
    return (await this.query<ApprovalRow>(this.sql.undispatched, [limit])).rows.map(toApproval);
  }

  async markDispatched(id: string, continuationId: string): Promise<void> {
    await this.query(this.sql.dispatched, [continuationId, id]);
  }
}
