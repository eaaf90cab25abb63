import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { Listeners } from '../../util/listeners.js';
import {
  deliveryPatch,
  oncePerChannel,
  storedCursor,
  pairingCode,
  pairingCodeTaken,
  prepareDeliveries,
  preparePairing,
  receiptWrite,
  SENDER_LOST_ERROR,
  toClaimedDelivery,
  toDeliveryRecord,
  toJobLease,
  toPairing,
  type DeliveryPatch,
  type DeliveryLease,
  type DeliveryRow,
  type LeaseKey,
  type LeaseRow,
  type PairingRow,
  type PreparedDelivery,
} from '../core/deliveries.js';
import type {
  ChannelStore,
  ClaimedDelivery,
  DeliveryChange,
  DeliveryInsert,
  DeliveryListOptions,
  DeliveryReceipt,
  DeliveryRecord,
  DeliveryState,
  JobLease,
  JsonValue,
  JsonObject,
  PairingOutcome,
  PairingRequest,
  ReceiptMatch,
} from '../types.js';
import { deleteInChunks } from '../core/purge.js';
import type { ChannelSql } from './channel-sql.js';
import { retrying, transaction } from './tx.js';

type Row = DeliveryRow<JsonObject>;

/** What the channel tables need from the PostgreSQL queue they live beside. */
export interface PostgresChannelHost {
  readonly pool: pg.Pool;
  readonly sql: ChannelSql;
  readonly schema: string;
  /** The NOTIFY channel on which nodes say "there may be deliveries". */
  readonly channel: string;
  readonly nodeId: string;
  readonly leaseMs: number;
  now(): number;
  assertOpen(): void;
  isClosed(): boolean;
}

/**
 * The outbox, job leases and pairing in the cluster's schema. Claims serialise per lane with
 * a transaction-scoped advisory lock (try-lock: a lane another node is claiming is skipped),
 * so at most one delivery of a lane is `sending` across the cluster. New deliveries NOTIFY
 * the other nodes on their own channel; the work channel's wake-ups are for messages only.
 */
export class PostgresChannels implements ChannelStore {
  private readonly listeners: Listeners<[]>;
  /** Advisory lock classes (the first int of a two-int key) of this schema's lanes and pairing accounts. */
  private readonly laneLocks: number;
  private readonly accountLocks: number;

  constructor(
    private readonly host: PostgresChannelHost,
    log?: Logger,
  ) {
    this.listeners = new Listeners((err) => log?.error({ err, event: 'channels.listener' }, 'a delivery listener failed'));
    this.laneLocks = laneLockClass(host.schema);
    this.accountLocks = lockClass(`pincer:pairing:${host.schema}`);
  }

  /** Inside the caller's transaction (a completion's); other nodes hear of them at COMMIT. Returns how many were new. */
  async insertPrepared(client: pg.ClientBase, items: readonly PreparedDelivery[], now: number): Promise<number> {
    if (items.length === 0) return 0;
    const { rows } = await client.query<{ n: number }>(this.host.sql.insertDeliveries, [
      items.map((d) => d.id),
      items.map((d) => d.messageId),
      items.map((d) => d.channel),
      items.map((d) => d.account),
      items.map((d) => d.lane),
      items.map((d) => d.target),
      items.map((d) => d.body),
      now,
      this.host.channel,
      this.host.nodeId,
    ]);
    return rows[0]?.n ?? 0;
  }

  /** Tell local listeners deliveries may be claimable (after a COMMIT, or another node's NOTIFY). */
  notify(): void {
    this.listeners.emit();
  }

  close(): void {
    this.listeners.clear();
  }

  async addDeliveries(items: readonly DeliveryInsert[]): Promise<void> {
    this.host.assertOpen();
    const prepared = prepareDeliveries(items);
    if (prepared.length === 0) return;
    const added = await transaction(this.host.pool, (client) => this.insertPrepared(client, prepared, this.host.now()));
    if (added > 0) this.notify();
  }

  /**
   * Committed with synchronous_commit on (the pool's setting), unlike a message claim: a
   * delivery must be `sending` on disk before its platform call, or a database crash would
   * let it be sent twice without anyone knowing.
   */
  async claimDeliveries(max: number): Promise<ClaimedDelivery[]> {
    this.host.assertOpen();
    if (max <= 0) return [];
    const now = this.host.now();
    const leaseUntil = now + this.host.leaseMs;
    const rows = await transaction(this.host.pool, async (client) => {
      const { rows: locked } = await client.query<{ seq: number }>(this.host.sql.claimLanes, [now, max, this.laneLocks]);
      if (locked.length === 0) return [];
      return (await client.query<Row>(this.host.sql.claimLocked, [locked.map((r) => r.seq), now, leaseUntil])).rows;
    });
    return rows.sort((a, b) => a.seq - b.seq).map((row) => toClaimedDelivery(row, same));
  }

  async updateDelivery(claim: DeliveryLease, change: DeliveryChange): Promise<boolean> {
    this.host.assertOpen();
    const now = this.host.now();
    const patch = deliveryPatch(change, now);
    // A release hands the delivery to whichever node is free; the other changes are followed
    // by this node's own next claim.
    const tellOthers = change.kind === 'release';
    const parameters = [...patchParameters(patch), now, claim.id, claim.lease, tellOthers, this.host.channel, this.host.nodeId];
    // A send that ends without knowing whether it arrived may already have its proof: it is
    // applied in the same transaction (the rare path; every other outcome is one statement).
    const { rows } =
      change.kind === 'ambiguous' || change.kind === 'retry'
        ? await transaction(this.host.pool, async (client) => {
            const result = await client.query<{ n: number }>(this.host.sql.patch, parameters);
            if ((result.rows[0]?.n ?? 0) > 0) await client.query(this.host.sql.resolveProven, [now, [claim.id]]);
            return result;
          })
        : await retrying(() => this.host.pool.query<{ n: number }>(this.host.sql.patch, parameters));
    if ((rows[0]?.n ?? 0) === 0) return false;
    if (patch.endsClaim) this.notify();
    return true;
  }

  async extendDeliveryLeases(claims: readonly DeliveryLease[]): Promise<string[]> {
    this.host.assertOpen();
    if (claims.length === 0) return [];
    const now = this.host.now();
    const { rows } = await retrying(() => this.host.pool.query<{ id: string }>(this.host.sql.extend, [claims.map((c) => c.id), claims.map((c) => c.lease), now + this.host.leaseMs, now]));
    const kept = new Set(rows.map((r) => r.id));
    return claims.filter((c) => !kept.has(c.id)).map((c) => c.id);
  }

  async recoverDeliveries(resend: (channel: string, account: string) => boolean): Promise<number> {
    this.host.assertOpen();
    const now = this.host.now();
    const { rows: expired } = await this.host.pool.query<{ id: string; lease: number; channel: string; account: string }>(this.host.sql.expiredSending, [now]);
    if (expired.length === 0) return 0;
    const resends = oncePerChannel(resend);
    const ids = expired.map((r) => r.id);
    const { rows } = await transaction(this.host.pool, async (client) => {
      const result = await client.query<{ n: number }>(this.host.sql.recover, [
        ids,
        expired.map((r) => r.lease),
        expired.map((r) => resends(r.channel, r.account)),
        now,
        SENDER_LOST_ERROR,
        this.host.channel,
        this.host.nodeId,
      ]);
      // A receipt that came while the row was left sending proved its part arrived.
      await client.query(this.host.sql.resolveProven, [now, ids]);
      return result;
    });
    const moved = rows[0]?.n ?? 0;
    if (moved > 0) this.notify();
    return moved;
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    this.host.assertOpen();
    const { rows } = await this.host.pool.query<Row>(this.host.sql.get, [id]);
    return rows[0] ? toDeliveryRecord(rows[0], same) : undefined;
  }

  async listDeliveries(options: DeliveryListOptions): Promise<DeliveryRecord[]> {
    this.host.assertOpen();
    const { rows } = await this.host.pool.query<Row>(this.host.sql.list, [options.state ?? null, options.channel ?? null, options.limit, options.offset ?? 0]);
    return rows.map((row) => toDeliveryRecord(row, same));
  }

  async retryDelivery(id: string): Promise<boolean> {
    this.host.assertOpen();
    const { rows } = await retrying(() => this.host.pool.query<{ n: number }>(this.host.sql.retry, [id, this.host.now(), this.host.channel, this.host.nodeId]));
    if ((rows[0]?.n ?? 0) === 0) return false;
    this.notify();
    return true;
  }

  async deliveryCounts(): Promise<Array<{ channel: string; account: string; state: DeliveryState; count: number }>> {
    this.host.assertOpen();
    return (await this.host.pool.query<{ channel: string; account: string; state: DeliveryState; count: number }>(this.host.sql.counts)).rows;
  }

  async nextDeliveryDueAt(): Promise<number | null> {
    this.host.assertOpen();
    const { rows } = await this.host.pool.query<{ due: number | null }>(this.host.sql.nextDue);
    return rows[0]?.due ?? null;
  }

  onDeliveries(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async applyReceipts(channel: string, account: string, receipts: readonly DeliveryReceipt[]): Promise<ReceiptMatch[]> {
    this.host.assertOpen();
    if (receipts.length === 0) return [];
    const now = this.host.now();
    const { sql } = this.host;
    const matches = await transaction(this.host.pool, async (client) => {
      const out: ReceiptMatch[] = [];
      for (const receipt of receipts) {
        const { rows } = await client.query<Pick<Row, 'state' | 'receipts' | 'receipt_status' | 'receipt_at' | 'receipt_error'>>(sql.receiptRow, [receipt.deliveryId, channel, account]);
        const row = rows[0];
        const write = row ? receiptWrite({ ...row, receipts: row.receipts as unknown as string[] }, receipt) : undefined;
        if (!write) {
          out.push('unknown');
          continue;
        }
        await client.query(sql.writeReceipt, [receipt.deliveryId, write.status, write.at, write.error, write.receipts, write.proof?.part ?? null, write.proof?.id ?? null, now]);
        const resolved = write.proof !== null && ((await client.query(sql.resolveProven, [now, [receipt.deliveryId]])).rowCount ?? 0) > 0;
        out.push(resolved ? 'resolved' : 'recorded');
      }
      // The resolved deliveries may be claimed by any node: tell them at COMMIT.
      if (out.includes('resolved')) await client.query(sql.notify, [this.host.channel, this.host.nodeId]);
      return out;
    });
    if (matches.includes('resolved')) this.notify();
    return matches;
  }

  /** Any node may purge; concurrent purges only find less to delete. */
  async purgeDeliveries(olderThanMs: number): Promise<number> {
    this.host.assertOpen();
    const cutoff = this.host.now() - olderThanMs;
    return deleteInChunks(async (limit) => (await this.host.pool.query(this.host.sql.purgeChunk, [cutoff, limit])).rowCount ?? 0, () => this.host.isClosed());
  }

  // ---------------------------------------------------------------- job leases

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<JobLease | null> {
    this.host.assertOpen();
    const now = this.host.now();
    const { rows } = await retrying(() => this.host.pool.query<LeaseRow>(this.host.sql.acquireLease, [name, holder, now + ttlMs, now]));
    return rows[0] ? toJobLease(rows[0]) : null;
  }

  async renewLease(lease: LeaseKey, ttlMs: number): Promise<boolean> {
    this.host.assertOpen();
    const { rowCount } = await retrying(() => this.host.pool.query(this.host.sql.renewLease, [this.host.now() + ttlMs, lease.name, lease.holder, lease.fence]));
    return (rowCount ?? 0) > 0;
  }

  async releaseLease(lease: LeaseKey): Promise<void> {
    this.host.assertOpen();
    await retrying(() => this.host.pool.query(this.host.sql.releaseLease, [this.host.now(), lease.name, lease.holder, lease.fence]));
  }

  async listLeases(): Promise<JobLease[]> {
    this.host.assertOpen();
    return (await this.host.pool.query<LeaseRow>(this.host.sql.listLeases)).rows.map(toJobLease);
  }

  // ---------------------------------------------------------------- cursors

  async getCursor(channel: string, account: string): Promise<JsonValue | null> {
    this.host.assertOpen();
    const { rows } = await this.host.pool.query<{ value: JsonValue }>(this.host.sql.getCursor, [channel, account]);
    return rows[0]?.value ?? null;
  }

  async setCursor(channel: string, account: string, value: JsonValue): Promise<void> {
    this.host.assertOpen();
    const text = storedCursor(value);
    await retrying(() => this.host.pool.query(this.host.sql.setCursor, [channel, account, text, this.host.now()]));
  }

  // ---------------------------------------------------------------- pairing

  /** The account's advisory lock makes the cap exact when its senders write on several nodes at once. */
  async requestPairing(request: PairingRequest, maxPending: number): Promise<PairingOutcome> {
    this.host.assertOpen();
    const p = preparePairing(request);
    const now = this.host.now();
    const { sql } = this.host;
    const outcome = await transaction(this.host.pool, async (client): Promise<PairingOutcome | 'taken'> => {
      await client.query(sql.lockAccount, [this.accountLocks, p.channel, p.account]);
      await client.query(sql.deleteExpiredPairings, [p.channel, p.account, p.code, now]);
      const { rows: live } = await client.query<PairingRow>(sql.liveOfSender, [p.channel, p.account, p.senderId, now]);
      if (live[0]) return { kind: 'pending', pairing: toPairing(live[0]) };
      const { rows: count } = await client.query<{ n: number }>(sql.liveOfAccount, [p.channel, p.account, now]);
      if ((count[0]?.n ?? 0) >= maxPending) return { kind: 'full' };
      const { rowCount } = await client.query(sql.insertPairing, [p.channel, p.account, p.senderId, p.code, p.createdAt, p.expiresAt]);
      return rowCount ? { kind: 'created', pairing: p } : 'taken';
    });
    if (outcome === 'taken') throw pairingCodeTaken(p);
    return outcome;
  }

  async listPairings(channel?: string): Promise<PairingRequest[]> {
    this.host.assertOpen();
    return (await this.host.pool.query<PairingRow>(this.host.sql.listPairings, [channel ?? null, this.host.now()])).rows.map(toPairing);
  }

  async approvePairing(channel: string, code: string, by: string): Promise<PairingRequest | undefined> {
    this.host.assertOpen();
    const now = this.host.now();
    const { rows } = await retrying(() => this.host.pool.query<PairingRow>(this.host.sql.approve, [channel, pairingCode(code), now, by]));
    return rows[0] && rows[0].expires_at > now ? toPairing(rows[0]) : undefined;
  }

  async denyPairing(channel: string, code: string): Promise<PairingRequest | undefined> {
    this.host.assertOpen();
    const now = this.host.now();
    const { rows } = await retrying(() => this.host.pool.query<PairingRow>(this.host.sql.deny, [channel, pairingCode(code)]));
    return rows[0] && rows[0].expires_at > now ? toPairing(rows[0]) : undefined;
  }

  async revokeApproval(channel: string, account: string, senderId: string): Promise<boolean> {
    this.host.assertOpen();
    const { rowCount } = await retrying(() => this.host.pool.query(this.host.sql.revokeApproval, [channel, account, senderId]));
    return (rowCount ?? 0) > 0;
  }

  async isApproved(channel: string, account: string, senderId: string): Promise<boolean> {
    this.host.assertOpen();
    return ((await this.host.pool.query(this.host.sql.isApproved, [channel, account, senderId])).rowCount ?? 0) > 0;
  }

  async purgeExpiredPairings(): Promise<number> {
    this.host.assertOpen();
    return (await this.host.pool.query(this.host.sql.purgePairings, [this.host.now()])).rowCount ?? 0;
  }
}

/** node-postgres has parsed the jsonb columns already. */
const same = (value: JsonObject): unknown => value;

/** The patch as $1-$11 of the patch statement. */
function patchParameters(patch: DeliveryPatch): Array<string | number | null> {
  return [patch.state, patch.plan, patch.nextPart, patch.receipts, patch.attemptsDelta, patch.rateLimitedDelta, patch.availableAt, patch.setsError ? 1 : 0, patch.lastError, patch.errorClass, patch.sentAt];
}

/** The advisory lock class of a schema's lanes: a claim holds `(class, hashtext(lane))` until it commits. */
export function laneLockClass(schema: string): number {
  return lockClass(`pincer:lanes:${schema}`);
}

/** A 32-bit advisory lock class for a name (PostgreSQL's two-int keys). */
function lockClass(name: string): number {
  return createHash('sha256').update(name).digest().readInt32BE(0);
}
