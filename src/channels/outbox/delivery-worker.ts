import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Channel } from '../../pipeline/types.js';
import type { CallOutcome } from '../../plugins/protocol.js';
import type { ChannelTarget, DeliveryPlan, RateBucket, ReconcileResult, RenderedPart } from '../../plugins/sdk.js';
import type { ChannelStore, ClaimedDelivery, DeliveryChange } from '../../store/types.js';
import type { ResolvedAccount } from '../accounts.js';
import type { ChannelMetrics } from '../metrics.js';
import { afterFailure, type DeliveryOutcome } from './outcome.js';
import { bodyExtras } from '../buttons.js';
import { checkPlan } from './plan.js';
import { platformCall, UNAVAILABLE } from './platform-call.js';
import type { RateScheduler } from './rate-scheduler.js';

export interface DeliveryWorkerDeps {
  store: ChannelStore;
  channel(id: string): Channel | undefined;
  account(channel: string, account: string): ResolvedAccount | undefined;
  metrics: ChannelMetrics;
  log: Logger;
  now: () => number;
  settings: { maxAttempts: number; maxRateWaitMs: number; concurrency: number; leaseMs: number };
  /** Shared with the streaming previews, which pass the same buckets. */
  rates: RateScheduler;
  /** The last part of a message's reply is out: its typing indicator stops. */
  onSent?(delivery: ClaimedDelivery): void;
}

/** With deliveries out, look for rows that fell due at least this often. */
const BUSY_LOOK_MS = 250;
/** A plugin that is not running: look again after this. */
const UNAVAILABLE_RETRY_MS = 2_000;

/**
 * Sends the outbox. The store hands out at most one row per lane, so a conversation's replies
 * go out in order; every platform call passes the account's rate buckets first, and is
 * preceded by a committed `sending` state (written by the claim), so a crash mid-send leaves
 * a row recovery can see. Outcomes follow the adapter's classification (outcome.ts).
 */
export class DeliveryWorker {
  private get rates(): RateScheduler {
    return this.deps.rates;
  }
  private readonly active = new Map<string, ClaimedDelivery>();
  private readonly laneBuckets = new Map<string, RateBucket[]>();
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private again = false;
  private unsubscribe: (() => void) | undefined;
  private idle: Promise<void> = Promise.resolve();
  private settleIdle: (() => void) | undefined;

  constructor(private readonly deps: DeliveryWorkerDeps) {
    // Every send in flight listens on it; that is many by design, not a leak.
    setMaxListeners(0, this.stopping.signal);
  }

  async start(): Promise<void> {
    this.unsubscribe = this.deps.store.onDeliveries(() => this.wake());
    await this.recover();
    this.renewTimer = setInterval(() => void this.renew(), Math.max(250, Math.floor(this.deps.settings.leaseMs / 3)));
    this.renewTimer.unref();
    this.wake();
  }

  /** Stop claiming; rows being sent finish their current call (the caller bounds the wait). */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.idle;
  }

  get inFlight(): number {
    return this.active.size;
  }

  wake(): void {
    if (this.stopping.signal.aborted) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        const room = this.deps.settings.concurrency - this.active.size;
        if (room <= 0) break;
        const claims = await this.deps.store.claimDeliveries(room);
        for (const claim of claims) this.begin(claim);
        if (claims.length === room) this.again = true;
      } while (this.again && !this.stopping.signal.aborted);
    } catch (err) {
      this.deps.log.error({ event: 'channel.delivery_claim_failed', err }, `delivery worker: claiming deliveries failed: ${(err as Error).message}`);
      this.schedule(1_000);
      return;
    } finally {
      this.pumping = false;
    }
    await this.scheduleNext();
  }

  private begin(claim: ClaimedDelivery): void {
    if (this.active.size === 0) this.idle = new Promise((resolve) => (this.settleIdle = resolve));
    this.active.set(claim.id, claim);
    void this.deliver(claim)
      .catch((err: unknown) => this.deps.log.error({ event: 'channel.delivery_crashed', delivery: claim.id, err }, `delivery ${claim.id}: ${(err as Error).message}`))
      .finally(() => {
        this.active.delete(claim.id);
        if (this.active.size === 0) this.settleIdle?.();
        this.wake();
      });
  }

  private async scheduleNext(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    // While deliveries are out, each one's end pumps again; asking the store when the next row
    // is due would cost a scan of the waiting rows per delivery. A timer covers rows that fall
    // due meanwhile (a rate wait ending).
    if (this.active.size > 0) return this.schedule(BUSY_LOOK_MS);
    try {
      const due = await this.deps.store.nextDeliveryDueAt();
      if (due !== null) this.schedule(Math.max(0, due - this.deps.now()));
    } catch {
      this.schedule(1_000);
    }
  }

  private schedule(ms: number): void {
    if (this.stopping.signal.aborted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.recover().then(() => this.wake());
    }, Math.min(ms, 2_147_000_000));
    this.timer.unref();
  }

  /** Rows another node (or this one, before a crash) left mid-send: resent where the channel dedupes, else held. */
  private async recover(): Promise<void> {
    try {
      const moved = await this.deps.store.recoverDeliveries((channel, account) => this.resendsAmbiguous(channel, this.deps.account(channel, account)));
      if (moved > 0) this.deps.log.warn({ event: 'channel.deliveries_recovered', count: moved }, `delivery worker: ${moved} deliveries were left sending by a stopped node`);
    } catch (err) {
      this.deps.log.error({ event: 'channel.delivery_recover_failed', err }, `delivery worker: recovery failed: ${(err as Error).message}`);
    }
  }

  private resendsAmbiguous(channel: string, account?: ResolvedAccount): boolean {
    if (account?.onAmbiguous) return account.onAmbiguous === 'resend';
    const dedupe = this.deps.channel(channel)?.capabilities.idempotentSend;
    // A reconciling channel is asked first (deliver), so sending again is safe there too.
    return dedupe === 'native' || dedupe === 'reconcile';
  }

  private async renew(): Promise<void> {
    if (this.active.size === 0) return;
    try {
      const lost = await this.deps.store.extendDeliveryLeases([...this.active.values()].map((c) => ({ id: c.id, lease: c.lease })));
      for (const id of lost) this.deps.log.warn({ event: 'channel.delivery_lease_lost', delivery: id }, `delivery ${id}: lease lost while sending`);
    } catch (err) {
      this.deps.log.warn({ event: 'channel.delivery_renew_failed', err }, `delivery worker: renewing leases failed: ${(err as Error).message}`);
    }
  }

  private async finish(claim: ClaimedDelivery, change: DeliveryChange, outcome: DeliveryOutcome): Promise<void> {
    const kept = await this.deps.store.updateDelivery(claim, change);
    this.deps.metrics.delivery(claim.channel, kept ? outcome : 'released');
    if (!kept) this.deps.log.warn({ event: 'channel.delivery_stale', delivery: claim.id }, `delivery ${claim.id}: its lease was lost before the outcome (${outcome}) was stored`);
  }

  private async deliver(claim: ClaimedDelivery): Promise<void> {
    const { now } = this.deps;
    const account = this.deps.account(claim.channel, claim.account);
    if (!account) return this.finish(claim, { kind: 'dead', error: `channel ${claim.channel} has no account "${claim.account}" in the configuration any more`, errorClass: 'permanent' }, 'dead');
    const adapter = this.deps.channel(claim.channel);
    if (!adapter) return this.finish(claim, { kind: 'release', availableAt: now() + UNAVAILABLE_RETRY_MS }, 'released');

    const target = claim.target as unknown as ChannelTarget;
    const scope = `${claim.channel}:${claim.account}`;
    // A lane whose bucket is full goes back at once, before any plugin call: a row is
    // `sending` for as short a time as possible before its platform call, because a crash
    // then makes it ambiguous.
    const known = (claim.plan as unknown as DeliveryPlan | null)?.buckets ?? this.laneBuckets.get(claim.lane);
    const early = known ? this.rates.peek(scope, known) : 0;
    if (early > 0) return this.finish(claim, { kind: 'release', availableAt: now() + early }, 'released');
    let plan: DeliveryPlan;
    let planStored = claim.plan !== null;
    if (claim.plan) plan = claim.plan as unknown as DeliveryPlan;
    else {
      try {
        // The turn usually rendered it at completion; otherwise the plugin renders it now.
        const rendered = claim.body.plan ?? (await adapter.plan(String(claim.body.markdown ?? ''), target, account.account, bodyExtras(claim.body)));
        plan = checkPlan(rendered, adapter.capabilities.textLimit);
      } catch (err) {
        // Rendering is the plugin's pure code: a plugin that is down gets its row back; one
        // that throws on this text will throw again, so the row is dead with the reason.
        const code = (err as { code?: string }).code;
        if (code === 'PLUGIN_HANDLER_GONE' || code === 'PLUGIN_NOT_RUNNING') return this.finish(claim, { kind: 'release', availableAt: now() + UNAVAILABLE_RETRY_MS }, 'released');
        return this.finish(claim, { kind: 'dead', error: `the channel could not render the reply: ${(err as Error).message}`, errorClass: 'permanent' }, 'dead');
      }
      this.rememberBuckets(claim.lane, plan.buckets);
    }

    const receipts = [...claim.receipts];
    // Preview messages streamed during the turn become the first parts of the final reply.
    const edits = Array.isArray(claim.body.edits) ? claim.body.edits.filter((e): e is string => typeof e === 'string') : [];
    for (let index = claim.nextPart; index < plan.parts.length; index++) {
      const part = { ...(plan.parts[index] as RenderedPart) };
      part.extra = { ...(part.extra ?? {}), webhookId: `${claim.id}.${index}` };
      const wait = this.rates.take(scope, plan.buckets);
      if (wait !== 0) {
        // Not now: the row goes back (its attempt returned) rather than wait here as `sending`,
        // which a crash would turn into an ambiguous send that never happened.
        this.deps.metrics.rateLimited.inc({ channel: claim.channel });
        return this.finish(claim, { kind: 'release', availableAt: now() + wait }, 'released');
      }
      const partTarget: ChannelTarget = index === 0 ? target : { conversation: target.conversation };
      if (index === claim.nextPart && claim.attempts > 1 && adapter.capabilities.idempotentSend === 'reconcile' && adapter.methods.has('reconcile')) {
        // An earlier attempt may have reached the platform: ask before sending again.
        const found = await this.reconcile(adapter, part, partTarget, account);
        if (found.status === 'unresolved') return this.finish(claim, { kind: 'ambiguous', error: 'an earlier attempt may have reached the platform, which could not tell' }, 'ambiguous');
        if (found.status === 'sent') {
          receipts.push(found.platformMessageId ?? '');
          if (index < plan.parts.length - 1 && !(await this.deps.store.updateDelivery(claim, { kind: 'progress', nextPart: index + 1, receipts }))) return;
          continue;
        }
      }
      let editOf = adapter.capabilities.edit ? edits[index] : undefined;
      const call = (p: RenderedPart) => platformCall(() => (editOf !== undefined ? adapter.edit(editOf, p, partTarget, account.account, this.stopping.signal) : adapter.send(p, partTarget, account.account, this.stopping.signal)));
      let result = await call(part);
      if (editOf !== undefined && result !== UNAVAILABLE && !result.ok && result.errorClass === 'permanent') {
        // The preview is gone (deleted by the user, too old to edit): send the part instead.
        editOf = undefined;
        result = await call(part);
      }
      if (result !== UNAVAILABLE && !result.ok && result.errorClass === 'unparsable') {
        // The platform refused the markup: the same part, as plain text, once.
        // `plain: true` tells the adapter; a parse mode set for the markup goes.
        const { parse_mode: _mode, ...extra } = part.extra ?? {};
        result = await call({ ...part, text: part.plain, extra: { ...extra, plain: true } });
      }
      if (result === UNAVAILABLE) return this.finish(claim, { kind: 'release', availableAt: now() + UNAVAILABLE_RETRY_MS }, 'released');
      if (!result.ok) return this.failed(claim, account, plan.buckets, scope, result);
      receipts.push(result.platformMessageId ?? '');
      if (index < plan.parts.length - 1) {
        // A reply of several parts keeps its plan from the first part on, so a resend after a
        // crash continues with the same parts (a new plan could cut differently). It is
        // stored after the first send, not before, to keep the pre-send window short.
        if (!planStored) {
          if (!(await this.deps.store.updateDelivery(claim, { kind: 'plan', plan: plan as unknown as ClaimedDelivery['body'] }))) return;
          planStored = true;
        }
        if (!(await this.deps.store.updateDelivery(claim, { kind: 'progress', nextPart: index + 1, receipts }))) return;
      }
    }
    await this.finish(claim, { kind: 'sent', receipts }, 'sent');
    this.deps.metrics.latency.observe({ channel: claim.channel }, Math.max(0, now() - claim.createdAt) / 1000);
    this.deps.onSent?.(claim);
  }

  private async reconcile(adapter: Channel, part: RenderedPart, target: ChannelTarget, account: ResolvedAccount): Promise<ReconcileResult> {
    try {
      const found = await adapter.reconcile(part, target, account.account, this.stopping.signal);
      if (found?.status === 'sent') return { status: 'sent', ...(typeof found.platformMessageId === 'string' ? { platformMessageId: found.platformMessageId } : {}) };
      return found?.status === 'not_sent' ? { status: 'not_sent' } : { status: 'unresolved' };
    } catch {
      return { status: 'unresolved' };
    }
  }

  /** Each lane's buckets from its last plan (they depend on the chat, not the text), bounded. */
  private rememberBuckets(lane: string, buckets: RateBucket[]): void {
    this.laneBuckets.delete(lane);
    this.laneBuckets.set(lane, buckets);
    if (this.laneBuckets.size > 10_000) this.laneBuckets.delete(this.laneBuckets.keys().next().value as string);
  }

  private async failed(claim: ClaimedDelivery, account: ResolvedAccount, buckets: readonly RateBucket[], scope: string, result: Extract<CallOutcome, { ok: false }>): Promise<void> {
    const now = this.deps.now();
    if (result.errorClass === 'rate_limited') {
      this.deps.metrics.rateLimited.inc({ channel: claim.channel });
      this.rates.pause(scope, buckets, now + (result.retryAfterMs ?? 1_000));
    }
    const { change, outcome } = afterFailure(result, {
      now,
      attempts: claim.attempts,
      maxAttempts: this.deps.settings.maxAttempts,
      resendAmbiguous: this.resendsAmbiguous(claim.channel, account),
      maxRateWaitMs: this.deps.settings.maxRateWaitMs,
      jitterMs: Math.floor(Math.random() * 250),
    });
    if (outcome === 'ambiguous' || outcome === 'dead') {
      this.deps.log.warn({ event: `channel.delivery_${outcome}`, delivery: claim.id, channel: claim.channel, account: claim.account, errorClass: result.errorClass }, `delivery ${claim.id} (${claim.channel}/${claim.account}): ${outcome}: ${result.message}`);
    }
    await this.finish(claim, change, outcome);
  }
}

