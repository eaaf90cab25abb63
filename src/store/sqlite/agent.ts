import { DECIDED_STATES_SQL, EXPIRY_DECIDER, toApproval, toJournalEntry, type ApprovalRow, type JournalRow } from '../core/agent.js';
import { deleteInChunks } from '../core/purge.js';
import { storedJson } from '../core/stored-json.js';
import type { AgentStore, ApprovalInsert, ApprovalListOptions, ApprovalRecord, ClaimedMessage, JournalEntry } from '../types.js';
import type { SqliteChannelHost } from './channels.js';

type Lease = Pick<ClaimedMessage, 'id' | 'lease'>;

/**
 * The tool loop's journal and approvals in the SQLite file. A write is answered only after the
 * WAL sync that covers it: a tool call is `started` on disk before it runs.
 */
export class SqliteAgentStore implements AgentStore {
  private readonly stmt;

  constructor(private readonly host: SqliteChannelHost) {
    const db = host.db;
    this.stmt = {
      holds: db.prepare<[string, number], { one: number }>(`SELECT 1 AS one FROM messages WHERE id = ? AND lease = ? AND state = 'processing'`),
      journal: db.prepare<[string], JournalRow>(`SELECT step, call, state, entry, attempt FROM agent_journal WHERE message_id = ? ORDER BY step, call`),
      writeEntry: db.prepare(
        `INSERT INTO agent_journal (message_id, step, call, state, entry, attempt, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (message_id, step, call) DO UPDATE SET state = excluded.state, entry = excluded.entry, attempt = excluded.attempt, updated_at = excluded.updated_at`,
      ),
      purgeJournal: db.prepare<[number, number]>(`DELETE FROM agent_journal WHERE rowid IN (SELECT rowid FROM agent_journal WHERE updated_at < ? LIMIT ?)`),
      purgeApprovals: db.prepare<[number, number]>(
        `DELETE FROM approvals WHERE rowid IN (SELECT rowid FROM approvals WHERE created_at < ? AND state <> 'pending' AND continuation_id IS NOT NULL LIMIT ?)`,
      ),
      insertApproval: db.prepare(
        `INSERT INTO approvals (id, message_id, conversation_id, channel, sender, tool, arguments, request, state, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING`,
      ),
      approval: db.prepare<[string], ApprovalRow>(`SELECT * FROM approvals WHERE id = ?`),
      list: db.prepare<[string | null, string | null, number, number], ApprovalRow>(
        `SELECT * FROM approvals WHERE (? IS NULL OR state = ?) ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
      ),
      decide: db.prepare<[string, number, string, string], ApprovalRow>(
        `UPDATE approvals SET state = ?, decided_at = ?, decided_by = ? WHERE id = ? AND state = 'pending' RETURNING *`,
      ),
      expire: db.prepare<[number, string, number], ApprovalRow>(
        `UPDATE approvals SET state = 'expired', decided_at = ?, decided_by = ? WHERE state = 'pending' AND expires_at <= ? RETURNING *`,
      ),
      undispatched: db.prepare<[number], ApprovalRow>(
        `SELECT * FROM approvals WHERE continuation_id IS NULL AND state IN ${DECIDED_STATES_SQL} ORDER BY decided_at LIMIT ?`,
      ),
      dispatched: db.prepare<[string, string]>(`UPDATE approvals SET continuation_id = ? WHERE id = ?`),
    };
  }

  async journal(messageId: string): Promise<JournalEntry[]> {
    this.host.assertOpen();
    return this.stmt.journal.all(messageId).map(toJournalEntry);
  }

  async writeJournal(claim: Lease, entries: readonly JournalEntry[], options: { durable?: boolean } = {}): Promise<boolean> {
    this.host.assertWritable();
    const now = this.host.now();
    const held = this.host.write(() => {
      if (!this.stmt.holds.get(claim.id, claim.lease)) return false;
      for (const e of entries) this.stmt.writeEntry.run(claim.id, e.step, e.call, e.state, storedJson(e.entry), e.attempt, now);
      return true;
    });
    // The WAL is one sequence: a later durable write covers this one too.
    if (held && options.durable !== false) await this.host.synced();
    return held;
  }

  async purge(olderThanMs: number): Promise<number> {
    const cutoff = this.host.now() - olderThanMs;
    const stopped = () => this.host.isClosed();
    const journal = await deleteInChunks((limit) => this.host.write(() => this.stmt.purgeJournal.run(cutoff, limit).changes), stopped);
    const approvals = await deleteInChunks((limit) => this.host.write(() => this.stmt.purgeApprovals.run(cutoff, limit).changes), stopped);
    return journal + approvals;
  }

  async requestApproval(claim: Lease, approval: ApprovalInsert): Promise<ApprovalRecord | null> {
    this.host.assertWritable();
    const now = this.host.now();
    const row = this.host.write(() => {
      if (!this.stmt.holds.get(claim.id, claim.lease)) return null;
      const a = approval;
      this.stmt.insertApproval.run(a.id, a.messageId, a.conversationId, a.channel, a.sender, a.tool, a.arguments, storedJson(a.request), now, a.expiresAt);
      return this.stmt.approval.get(a.id) ?? null;
    });
    if (row) await this.host.synced();
    return row ? toApproval(row) : null;
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    this.host.assertOpen();
    const row = this.stmt.approval.get(id);
    return row ? toApproval(row) : undefined;
  }

  async listApprovals(options: ApprovalListOptions): Promise<ApprovalRecord[]> {
    this.host.assertOpen();
    const state = options.state ?? null;
    return this.stmt.list.all(state, state, options.limit, options.offset ?? 0).map(toApproval);
  }

  async decideApproval(id: string, decision: 'approved' | 'denied', by: string): Promise<{ approval: ApprovalRecord; decided: boolean } | undefined> {
    this.host.assertWritable();
    const now = this.host.now();
    const result = this.host.write(() => {
      const changed = this.stmt.decide.get(decision, now, by, id);
      if (changed) return { row: changed, decided: true };
      const row = this.stmt.approval.get(id);
      return row ? { row, decided: false } : undefined;
    });
    if (!result) return undefined;
    if (result.decided) await this.host.synced();
    return { approval: toApproval(result.row), decided: result.decided };
  }

  async expireApprovals(): Promise<ApprovalRecord[]> {
    this.host.assertWritable();
    const now = this.host.now();
    const rows = this.host.write(() => this.stmt.expire.all(now, EXPIRY_DECIDER, now));
    if (rows.length > 0) await this.host.synced();
    return rows.map(toApproval);
  }

  async undispatchedApprovals(limit: number): Promise<ApprovalRecord[]> {
    this.host.assertOpen();
    return this.stmt.undispatched.all(limit).map(toApproval);
  }

  async markDispatched(id: string, continuationId: string): Promise<void> {
    this.host.assertWritable();
    this.host.write(() => this.stmt.dispatched.run(continuationId, id));
    await this.host.synced();
  }
}
