import type Database from 'better-sqlite3';
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
  type DeliveryLease,
  type DeliveryRow,
  type LeaseKey,
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
  PairingOutcome,
  PairingRequest,
  ReceiptMatch,
} from '../types.js';
import { deleteInChunks } from '../core/purge.js';
import { prepareChannelStatements, type ChannelStatements } from './channel-statements.js';

type Row = DeliveryRow<string>;

/** What the channel tables need from the SQLite queue that owns the file. */
export interface SqliteChannelHost {
  readonly db: Database.Database;
  readonly leaseMs: number;
  now(): number;
  /** One transaction, noted for the WAL syncer. */
  write<T>(fn: () => T): T;
  /** Resolves once every commit so far is durable. */
  synced(): Promise<void>;
  assertOpen(): void;
  assertWritable(): void;
  isClosed(): boolean;
}

/**
 * The outbox, job leases and pairing in the SQLite file. Every write is answered only after
 * the WAL sync that covers it: a delivery is `sending` on disk before its platform call, and
 * its receipts are on disk before the next part goes out (write-ahead, channels.md §5.8).
 * One process owns the file, so local listeners hear every new delivery.
 */
export class SqliteChannels implements ChannelStore {
  private readonly stmt: ChannelStatements;
  private readonly listeners: Listeners<[]>;

  constructor(
    private readonly host: SqliteChannelHost,
    private readonly log?: Logger,
  ) {
    this.stmt = prepareChannelStatements(host.db);
    this.listeners = new Listeners((err) => log?.error({ err, event: 'channels.listener' }, 'a delivery listener failed'));
  }

  /**
   * This process holds the file exclusively, so a delivery left `sending` belongs to a run
   * that died: its lease is over now, and the next recoverDeliveries decides what it becomes.
   */
  recoverAtOpen(): void {
    const now = this.host.now();
    const { changes } = this.stmt.sendingAtOpen.run(now, now);
    if (changes > 0) this.log?.warn({ event: 'channels.recovered', count: changes }, `${changes} delivery(ies) were sending when the previous run stopped`);
  }

  /** Inside the caller's transaction (a completion's). Returns how many were new. */
  insertPrepared(items: readonly PreparedDelivery[], now: number): number {
    let n = 0;
    for (const d of items) n += this.stmt.insertDelivery.run(d.id, d.messageId, d.channel, d.account, d.lane, d.target, d.body, now, now, now).changes;
    return n;
  }

  /** Tell listeners deliveries may be claimable; call once they are durable. */
  notify(): void {
    this.listeners.emit();
  }

  close(): void {
    this.listeners.clear();
  }

  async addDeliveries(items: readonly DeliveryInsert[]): Promise<void> {
    this.host.assertWritable();
    const prepared = prepareDeliveries(items);
    if (prepared.length === 0) return;
    const now = this.host.now();
    const added = this.host.write(() => this.insertPrepared(prepared, now));
    await this.host.synced();
    if (added > 0) this.notify();
  }

  async claimDeliveries(max: number): Promise<ClaimedDelivery[]> {
    this.host.assertWritable();
    if (max <= 0) return [];
    const now = this.host.now();
    const leaseUntil = now + this.host.leaseMs;
    const claimed = this.host.write(() => this.stmt.claimable.all(now, max).map((row) => this.stmt.markSending.get(leaseUntil, now, row.seq)!));
    if (claimed.length === 0) return [];
    await this.host.synced();
    return claimed.map((row) => toClaimedDelivery(row, parse));
  }

  async updateDelivery(claim: DeliveryLease, change: DeliveryChange): Promise<boolean> {
    this.host.assertWritable();
    const now = this.host.now();
    const patch = deliveryPatch(change, now);
    // A send that ends without knowing whether it arrived may already have its proof.
    const resolves = change.kind === 'ambiguous' || change.kind === 'retry';
    const changed = this.host.write(() => {
      const n = this.stmt.patch.run({
          state: patch.state,
          plan: patch.plan,
          next_part: patch.nextPart,
          receipts: patch.receipts,
          attempts_delta: patch.attemptsDelta,
          rate_limited_delta: patch.rateLimitedDelta,
          available_at: patch.availableAt,
          sets_error: patch.setsError ? 1 : 0,
          last_error: patch.lastError,
          error_class: patch.errorClass,
          sent_at: patch.sentAt,
          now,
          id: claim.id,
          lease: claim.lease,
        }).changes;
      if (n > 0 && resolves) this.stmt.resolveProven.run(now, claim.id);
      return n;
    });
    if (changed === 0) return false;
    await this.host.synced();
    // The lane is free again: its next delivery may go out.
    if (patch.endsClaim) this.notify();
    return true;
  }

  async extendDeliveryLeases(claims: readonly DeliveryLease[]): Promise<string[]> {
    this.host.assertOpen();
    if (claims.length === 0) return [];
    const now = this.host.now();
    const lost = this.host.write(() => claims.filter((c) => this.stmt.extend.run(now + this.host.leaseMs, now, c.id, c.lease).changes === 0).map((c) => c.id));
    return lost;
  }

  async recoverDeliveries(resend: (channel: string, account: string) => boolean): Promise<number> {
    this.host.assertWritable();
    const now = this.host.now();
    const resends = oncePerChannel(resend);
    let requeued = 0;
    const moved = this.host.write(() => {
      let n = 0;
      for (const row of this.stmt.expiredSending.all(now)) {
        if (resends(row.channel, row.account)) {
          const changes = this.stmt.recoverToQueued.run(now, now, row.id, row.lease, now).changes;
          requeued += changes;
          n += changes;
        } else {
          n += this.stmt.recoverToAmbiguous.run(SENDER_LOST_ERROR, now, row.id, row.lease, now).changes;
        }
        this.stmt.resolveProven.run(now, row.id);
      }
      return n;
    });
    if (moved === 0) return 0;
    await this.host.synced();
    // An ambiguous row frees its lane as much as a requeued one does.
    this.notify();
    this.log?.info({ event: 'channels.recovered', requeued, held: moved - requeued }, `recovered ${moved} delivery(ies) whose sender stopped: ${requeued} to resend, ${moved - requeued} held as ambiguous`);
    return moved;
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    this.host.assertOpen();
    const row = this.stmt.getDelivery.get(id);
    return row ? toDeliveryRecord(row, parse) : undefined;
  }

  async listDeliveries(options: DeliveryListOptions): Promise<DeliveryRecord[]> {
    this.host.assertOpen();
    const rows = this.stmt.listDeliveries.all({ state: options.state ?? null, channel: options.channel ?? null, limit: options.limit, offset: options.offset ?? 0 });
    return rows.map((row: Row) => toDeliveryRecord(row, parse));
  }

  async retryDelivery(id: string): Promise<boolean> {
    this.host.assertWritable();
    const now = this.host.now();
    if (this.host.write(() => this.stmt.retryDelivery.run(now, now, id).changes) === 0) return false;
    await this.host.synced();
    this.notify();
    return true;
  }

  async deliveryCounts(): Promise<Array<{ channel: string; account: string; state: DeliveryState; count: number }>> {
    this.host.assertOpen();
    return this.stmt.counts.all();
  }

  async nextDeliveryDueAt(): Promise<number | null> {
    this.host.assertOpen();
    return this.stmt.nextDue.get()?.due ?? null;
  }

  onDeliveries(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async applyReceipts(channel: string, account: string, receipts: readonly DeliveryReceipt[]): Promise<ReceiptMatch[]> {
    this.host.assertWritable();
    if (receipts.length === 0) return [];
    const now = this.host.now();
    const matches = this.host.write(() =>
      receipts.map((receipt): ReceiptMatch => {
        const row = this.stmt.receiptRow.get(receipt.deliveryId, channel, account);
        const write = row ? receiptWrite({ ...row, receipts: parse(row.receipts) as string[] }, receipt) : undefined;
        if (!write) return 'unknown';
        this.stmt.writeReceipt.run({ status: write.status, at: write.at, error: write.error, receipts: write.receipts, proof_part: write.proof?.part ?? null, proof_id: write.proof?.id ?? null, now, id: receipt.deliveryId });
        return write.proof !== null && this.stmt.resolveProven.run(now, receipt.deliveryId).changes > 0 ? 'resolved' : 'recorded';
      }),
    );
    if (!matches.some((m) => m !== 'unknown')) return matches;
    await this.host.synced();
    if (matches.includes('resolved')) this.notify();
    return matches;
  }

  async purgeDeliveries(olderThanMs: number): Promise<number> {
    this.host.assertOpen();
    const cutoff = this.host.now() - olderThanMs;
    return deleteInChunks((limit) => this.host.write(() => this.stmt.purgeChunk.run(cutoff, limit).changes), () => this.host.isClosed());
  }

  // ---------------------------------------------------------------- job leases

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<JobLease | null> {
    this.host.assertWritable();
    const now = this.host.now();
    const row = this.host.write(() => this.stmt.acquireLease.get({ name, holder, expires_at: now + ttlMs, now }));
    if (!row) return null;
    await this.host.synced();
    return toJobLease(row);
  }

  async renewLease(lease: LeaseKey, ttlMs: number): Promise<boolean> {
    this.host.assertWritable();
    const now = this.host.now();
    return this.host.write(() => this.stmt.renewLease.run(now + ttlMs, lease.name, lease.holder, lease.fence).changes) > 0;
  }

  async releaseLease(lease: LeaseKey): Promise<void> {
    this.host.assertWritable();
    const now = this.host.now();
    this.host.write(() => this.stmt.releaseLease.run(now, lease.name, lease.holder, lease.fence));
    await this.host.synced();
  }

  async listLeases(): Promise<JobLease[]> {
    this.host.assertOpen();
    return this.stmt.listLeases.all().map(toJobLease);
  }

  // ---------------------------------------------------------------- cursors

  async getCursor(channel: string, account: string): Promise<JsonValue | null> {
    this.host.assertOpen();
    const row = this.stmt.getCursor.get(channel, account);
    return row ? (JSON.parse(row.value) as JsonValue) : null;
  }

  async setCursor(channel: string, account: string, value: JsonValue): Promise<void> {
    this.host.assertWritable();
    const text = storedCursor(value);
    this.host.write(() => this.stmt.setCursor.run(channel, account, text, this.host.now()));
    await this.host.synced();
  }

  // ---------------------------------------------------------------- pairing

  async requestPairing(request: PairingRequest, maxPending: number): Promise<PairingOutcome> {
    this.host.assertWritable();
    const pairing = preparePairing(request);
    const now = this.host.now();
    const outcome = this.host.write((): PairingOutcome | 'taken' => {
      // Expired requests hold neither a sender, a place under the cap, nor a code.
      this.stmt.deleteExpiredPairings.run(pairing.channel, now, pairing.account, pairing.code);
      const live = this.stmt.liveOfSender.get(pairing.channel, pairing.account, pairing.senderId, now);
      if (live) return { kind: 'pending', pairing: toPairing(live) };
      if ((this.stmt.liveOfAccount.get(pairing.channel, pairing.account, now)?.n ?? 0) >= maxPending) return { kind: 'full' };
      const { changes } = this.stmt.insertPairing.run(pairing.channel, pairing.account, pairing.senderId, pairing.code, pairing.createdAt, pairing.expiresAt);
      return changes === 0 ? 'taken' : { kind: 'created', pairing };
    });
    if (outcome === 'taken') throw pairingCodeTaken(pairing);
    if (outcome.kind === 'created') await this.host.synced();
    return outcome;
  }

  async listPairings(channel?: string): Promise<PairingRequest[]> {
    this.host.assertOpen();
    return this.stmt.listPairings.all({ channel: channel ?? null, now: this.host.now() }).map(toPairing);
  }

  async approvePairing(channel: string, code: string, by: string): Promise<PairingRequest | undefined> {
    this.host.assertWritable();
    const now = this.host.now();
    const approved = this.host.write(() => {
      const row = this.stmt.takePairing.get(channel, pairingCode(code));
      if (!row || row.expires_at <= now) return undefined;
      this.stmt.approve.run(row.channel, row.account, row.sender_id, now, by);
      return toPairing(row);
    });
    if (approved) await this.host.synced();
    return approved;
  }

  async denyPairing(channel: string, code: string): Promise<PairingRequest | undefined> {
    this.host.assertWritable();
    const now = this.host.now();
    const row = this.host.write(() => this.stmt.takePairing.get(channel, pairingCode(code)));
    if (!row || row.expires_at <= now) return undefined;
    await this.host.synced();
    return toPairing(row);
  }

  async revokeApproval(channel: string, account: string, senderId: string): Promise<boolean> {
    this.host.assertWritable();
    const { changes } = this.host.write(() => this.stmt.revokeApproval.run(channel, account, senderId));
    await this.host.synced();
    return changes > 0;
  }

  async isApproved(channel: string, account: string, senderId: string): Promise<boolean> {
    this.host.assertOpen();
    return this.stmt.isApproved.get(channel, account, senderId) !== undefined;
  }

  async purgeExpiredPairings(): Promise<number> {
    this.host.assertOpen();
    const now = this.host.now();
    return this.host.write(() => this.stmt.purgePairings.run(now).changes);
  }
}

const parse = (text: string): unknown => JSON.parse(text);
