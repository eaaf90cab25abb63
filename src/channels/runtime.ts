import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ChannelsConfig } from '../config/channels.js';
import { PincerError } from '../errors.js';
import type { JsonValue } from '../json.js';
import type { PipelineRegistry } from '../pipeline/registry.js';
import type { Channel } from '../pipeline/types.js';
import type { ChannelHostMethod } from '../plugins/protocol.js';
import type { WebhookRequest } from '../plugins/sdk.js';
import type { ChannelStore, WorkQueue } from '../store/types.js';
import { accountKey, resolveAccounts, type ResolvedAccount } from './accounts.js';
import { AccountRunner, type AccountStatus } from './account-runner.js';
import { ChannelIngress, type IngestedEvent } from './ingress.js';
import { ChannelMetrics } from './metrics.js';
import { applyReceipts } from './receipts.js';
import { DeliveryWorker } from './outbox/delivery-worker.js';
import { RateScheduler } from './outbox/rate-scheduler.js';
import { ChannelTurns } from './turns.js';
import { WEBCHAT } from './webchat/config.js';

export interface ChannelRuntimeDeps {
  channels: ChannelsConfig;
  work: WorkQueue;
  store: ChannelStore;
  registry: PipelineRegistry;
  metricsRegistry: Registry;
  log: Logger;
  nodeId: string;
  botName: string;
  maxTextLength: number;
  now?: () => number;
}

export interface WebhookAnswer {
  status: number;
  body: JsonValue;
}

/** How often account transports are checked (lease renewal, restarts after a backoff). */
const SYNC_INTERVAL_MS = 1_000;

/**
 * Channels on one node: the accounts of `channels:` and their transports, the receive path
 * (ingress), the outbox's delivery worker, and the typing and previews of turns. A channel's
 * adapter lives in its plugin's thread; everything here is core.
 */
export class ChannelRuntime {
  readonly metrics: ChannelMetrics;
  readonly ingress: ChannelIngress;
  readonly turns: ChannelTurns;
  private readonly delivery: DeliveryWorker;
  private readonly accounts = new Map<string, ResolvedAccount>();
  private readonly runners = new Map<string, AccountRunner>();
  private readonly sessions = new Map<string, AccountRunner>();
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private started = false;

  constructor(private readonly deps: ChannelRuntimeDeps) {
    this.now = deps.now ?? Date.now;
    const log = (this.log = deps.log.child({ component: 'channels' }));
    const defaults = deps.channels.defaults;
    this.metrics = new ChannelMetrics(deps.metricsRegistry);
    for (const account of resolveAccounts(deps.channels)) {
      const key = accountKey(account.channel, account.id);
      this.accounts.set(key, account);
      // The web chat has no plugin and no transport: visitors' browsers call its routes
      // (src/server/routes/webchat.ts), which use this runtime's ingress and account().
      if (account.channel === WEBCHAT) continue;
      this.runners.set(key, new AccountRunner(account, { store: deps.store, nodeId: deps.nodeId, leaseMs: defaults.poller_lease, log, now: this.now, sessions: this.sessions }));
    }
    const rates = new RateScheduler(this.now);
    const channel = (id: string) => deps.registry.channels.get(id);
    const account = (ch: string, id: string) => this.accounts.get(accountKey(ch, id));
    this.ingress = new ChannelIngress({
      work: deps.work,
      channels: deps.store,
      metrics: this.metrics,
      log,
      now: this.now,
      botName: deps.botName,
      maxTextLength: deps.maxTextLength,
      pairing: { ttlMs: defaults.pairing.ttl, maxPending: defaults.pairing.max_pending },
    });
    this.turns = new ChannelTurns({
      channel,
      account,
      rates,
      metrics: this.metrics,
      log,
      now: this.now,
      preview: { throttleMs: Math.max(250, defaults.streaming.throttle), minInitialChars: defaults.streaming.min_initial_chars, firstAfterMs: 1_500, maxFailures: 3 },
      typing: { intervalMs: defaults.typing.interval, maxMs: defaults.typing.max },
    });
    this.delivery = new DeliveryWorker({
      store: deps.store,
      channel,
      account,
      metrics: this.metrics,
      log,
      now: this.now,
      rates,
      settings: { maxAttempts: defaults.delivery.max_attempts, maxRateWaitMs: defaults.delivery.max_rate_wait, concurrency: defaults.delivery.concurrency, leaseMs: defaults.delivery.lease },
      onSent: (delivery) => this.turns.delivered(delivery.messageId),
    });
  }

  async start(): Promise<void> {
    this.started = true;
    await this.delivery.start();
    this.unsubscribe = this.deps.registry.onChannels(() => void this.sync());
    this.timer = setInterval(() => void this.sync(), SYNC_INTERVAL_MS);
    this.timer.unref();
    await this.sync();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.turns.stopAll();
    await this.delivery.stop();
  }

  list(): AccountStatus[] {
    return [...this.runners.values()].map((r) => r.status());
  }

  account(channel: string, id: string): ResolvedAccount | undefined {
    return this.accounts.get(accountKey(channel, id));
  }

  /** Wakes the delivery worker (an operator retried a delivery). */
  wakeDeliveries(): void {
    this.delivery.wake();
  }

  /** Per account, for /ready: ok, or why not. Accounts never make the node unready: the API serves without them. */
  readiness(staleAfterMs: number): Record<string, string> {
    const checks: Record<string, string> = {};
    for (const s of this.list()) {
      const key = `channel.${s.channel}.${s.account}`;
      if (s.state === 'unavailable') checks[key] = `unavailable: ${s.detail ?? ''}${s.hint ? ` (${s.hint})` : ''}`;
      else if (s.state === 'retrying') checks[key] = `degraded: ${s.detail ?? 'the poll loop is restarting'}`;
      else if (s.state === 'polling' && s.lastPollAt !== null && this.now() - s.lastPollAt > staleAfterMs) checks[key] = `degraded: last successful poll ${Math.round((this.now() - s.lastPollAt) / 1000)} s ago`;
      else if (s.state === 'waiting_plugin') checks[key] = `degraded: the ${s.channel} channel plugin is not running`;
      else checks[key] = 'ok';
    }
    return checks;
  }

  /** A call from a channel plugin's poll loop (ingest, fatal), named by its session. */
  async threadCall(plugin: string, method: ChannelHostMethod, args: JsonValue[]): Promise<JsonValue> {
    const session = typeof args[0] === 'string' ? args[0] : '';
    const runner = this.sessions.get(session);
    if (!runner || runner.account.plugin !== plugin) throw new PincerError('CHANNEL_SESSION_UNKNOWN', `plugin ${plugin}: poll session ${session} is not running (the transport was stopped or replaced)`);
    if (method === 'fatal') {
      runner.refuse(session, typeof args[1] === 'string' ? args[1] : 'the platform refused the account', typeof args[2] === 'string' ? args[2] : null);
      return null;
    }
    const { channel, id } = runner.account;
    if (method === 'cursor') return this.deps.store.getCursor(channel, id);
    const events = Array.isArray(args[1]) ? args[1] : [];
    await this.ingress.ingest(runner.account, events);
    // The cursor follows its batch: a crash between the two replays the batch, which dedupes.
    if (args.length > 2 && args[2] !== undefined) await this.deps.store.setCursor(channel, id, args[2] as JsonValue);
    runner.polled(session, events.length);
    return null;
  }

  /** The host's webhook route: verify and parse in the plugin, commit, then answer the platform. */
  async webhook(channel: string, accountId: string, request: WebhookRequest): Promise<WebhookAnswer & { results?: IngestedEvent[] }> {
    const account = this.account(channel, accountId);
    if (!account || !account.enabled) throw new PincerError('CHANNEL_ACCOUNT_NOT_FOUND', `channel ${channel} has no enabled account "${accountId}" (channels.${channel}.accounts)`);
    const adapter = this.adapter(channel);
    const transport = account.transport ?? adapter.capabilities.transports[0];
    if (transport !== 'webhook' || !adapter.methods.has('webhook')) {
      throw new PincerError('CHANNEL_TRANSPORT_MISMATCH', `channel ${channel} account ${accountId} uses transport ${String(transport)}, not webhook (set channels.${channel}.accounts.${accountId}.transport: webhook)`);
    }
    const verdict = await adapter.webhook(request, account.account);
    if (!verdict.accept) return { status: verdict.status, body: { error: { code: verdict.code, message: verdict.message } } };
    const results = await this.ingress.ingest(account, verdict.events);
    // Statuses of the bot's own sends (delivery receipts), after the events: a store failure
    // rejects, and the platform sends the whole notification again (its events dedupe).
    if (Array.isArray(verdict.receipts) && verdict.receipts.length > 0) await applyReceipts({ store: this.deps.store, metrics: this.metrics, log: this.log }, account, verdict.receipts);
    this.runners.get(accountKey(channel, accountId))?.webhookReceived(verdict.events.length);
    return { status: verdict.status ?? 200, body: verdict.body ?? { ok: true }, results };
  }

  private adapter(channel: string): Channel {
    const adapter = this.deps.registry.channels.get(channel);
    if (!adapter) throw new PincerError('CHANNEL_UNAVAILABLE', `the ${channel} channel's plugin is not running; retry shortly`);
    return adapter;
  }

  private async sync(): Promise<void> {
    if (!this.started) return;
    await Promise.all([...this.runners.values()].map((r) => r.sync(this.deps.registry.channels.get(r.account.channel))));
  }
}
