import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CallOutcome, Channel } from '../pipeline/types.js';
import type { ChannelStore, JobLease } from '../store/types.js';
import type { ResolvedAccount } from './accounts.js';

export type AccountState =
  /** The channel's plugin is not running (yet). */
  | 'waiting_plugin'
  /** Another node holds the poller lease; this one takes over if that node stops renewing. */
  | 'standby'
  | 'connecting'
  | 'polling'
  /** Webhooks arrive on the host's route, on any node. */
  | 'webhook'
  /** The poll loop failed; it restarts after a backoff. */
  | 'retrying'
  /** The platform refused the account (a revoked token, a second poller): fixed only by an operator. */
  | 'unavailable'
  | 'disabled'
  | 'stopped';

export interface AccountStatus {
  channel: string;
  account: string;
  transport: 'polling' | 'webhook' | null;
  state: AccountState;
  detail: string | null;
  hint: string | null;
  /** Unix ms of the last poll that reached the platform and was committed. */
  lastPollAt: number | null;
  /** This node holds the poller lease (polling only). */
  leader: boolean;
  eventsIn: number;
}

export interface RunnerDeps {
  store: ChannelStore;
  nodeId: string;
  leaseMs: number;
  log: Logger;
  now: () => number;
  /** Register a poll session, so the loop's ingest calls reach this runner. */
  sessions: Map<string, AccountRunner>;
}

const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** A loop that ran this long without failing resets the backoff. */
const STABLE_AFTER_MS = 60_000;

/**
 * Runs one account's transport on this node. Polling is leased cluster-wide so exactly one
 * node polls a bot token (Telegram answers a second poller with 409): the holder renews its
 * fenced lease, a node that stops renewing loses it and another takes over. A reload of the
 * channel's plugin stops the old loop before the new one starts.
 */
export class AccountRunner {
  private adapter: Channel | undefined;
  private run: { controller: AbortController; done: Promise<void>; session: string } | undefined;
  private lease: JobLease | undefined;
  private state: AccountState = 'waiting_plugin';
  private detail: string | null = null;
  private hint: string | null = null;
  private lastPollAt: number | null = null;
  private eventsIn = 0;
  private failures = 0;
  private retryAt = 0;
  private fatal = false;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    readonly account: ResolvedAccount,
    private readonly deps: RunnerDeps,
  ) {}

  get transport(): 'polling' | 'webhook' | null {
    return this.account.transport ?? this.adapter?.capabilities.transports[0] ?? null;
  }

  status(): AccountStatus {
    return {
      channel: this.account.channel,
      account: this.account.id,
      transport: this.transport,
      state: this.state,
      detail: this.detail,
      hint: this.hint,
      lastPollAt: this.lastPollAt,
      leader: this.lease !== undefined,
      eventsIn: this.eventsIn,
    };
  }

  /** Bring the transport in line with the channel now registered (or gone). Serialised. */
  sync(adapter: Channel | undefined): Promise<void> {
    this.syncing = this.syncing.then(() => this.syncNow(adapter)).catch((err: unknown) => this.deps.log.error({ event: 'channel.sync_failed', err }, `channel ${this.label}: ${(err as Error).message}`));
    return this.syncing;
  }

  async stop(): Promise<void> {
    await this.syncing;
    await this.halt();
    this.state = 'stopped';
  }

  /** A poll of the current session reached the platform; `count` events were committed. */
  polled(session: string, count: number): boolean {
    if (this.run?.session !== session) return false;
    this.lastPollAt = this.deps.now();
    this.eventsIn += count;
    if (this.state === 'connecting' || this.state === 'retrying') this.setState('polling');
    return true;
  }

  webhookReceived(count: number): void {
    this.eventsIn += count;
  }

  /** The loop says the platform refused the account: stop, and do not restart until the config or plugin changes. */
  refuse(session: string, detail: string, hint: string | null): void {
    if (this.run?.session !== session) return;
    this.fatal = true;
    this.setState('unavailable', detail, hint);
    this.deps.log.error({ event: 'channel.account_unavailable', channel: this.account.channel, account: this.account.id, detail, hint }, `channel ${this.label}: ${detail}${hint ? ` (${hint})` : ''}`);
    this.run.controller.abort();
  }

  private get label(): string {
    return `${this.account.channel}/${this.account.id}`;
  }

  private get leaseName(): string {
    return `poll:${this.account.channel}:${this.account.id}`;
  }

  private setState(state: AccountState, detail: string | null = null, hint: string | null = null): void {
    this.state = state;
    this.detail = detail;
    this.hint = hint;
  }

  private async syncNow(adapter: Channel | undefined): Promise<void> {
    if (!this.account.enabled) {
      await this.halt();
      return this.setState('disabled');
    }
    if (adapter !== this.adapter) {
      await this.halt();
      this.adapter = adapter;
      this.fatal = false;
      this.failures = 0;
      this.retryAt = 0;
    }
    if (!adapter) return this.setState('waiting_plugin');
    if (this.fatal) return;
    const transport = this.transport;
    if (!transport || !adapter.capabilities.transports.includes(transport)) {
      return this.setState('unavailable', `channel ${this.account.channel} offers no "${transport}" transport (it offers ${adapter.capabilities.transports.join(', ')})`, `set channels.${this.account.channel}.accounts.${this.account.id}.transport`);
    }
    if (transport === 'webhook') return this.syncWebhook(adapter);
    return this.syncPolling(adapter);
  }

  private async syncWebhook(adapter: Channel): Promise<void> {
    if (this.state === 'webhook') return;
    // Registering the webhook with the platform is done by one node: the lease holder.
    const lease = await this.takeLease();
    if (lease && adapter.methods.has('connect') && this.deps.now() >= this.retryAt) {
      const outcome = await adapter.connect(this.account.account, AbortSignal.timeout(30_000)).catch((err: unknown): CallOutcome => ({ ok: false, errorClass: 'transient', message: (err as Error).message }));
      if (!outcome.ok) {
        if (outcome.errorClass === 'permanent') return this.refuseAccount(outcome.message);
        this.backOff(0, outcome.message);
        return;
      }
    }
    // Every node takes the platform's calls; only the one that connected registered the URL.
    this.setState('webhook');
  }

  private async syncPolling(adapter: Channel): Promise<void> {
    if (this.run) {
      if (this.lease && !(await this.renewLease())) {
        this.deps.log.warn({ event: 'channel.poller_lease_lost', channel: this.account.channel, account: this.account.id }, `channel ${this.label}: lost the poller lease; another node polls now`);
        await this.halt();
        this.setState('standby');
      }
      return;
    }
    if (this.deps.now() < this.retryAt) return;
    const lease = await this.takeLease();
    if (!lease) return this.setState('standby', 'another node polls this account');
    this.startPolling(adapter);
  }

  private startPolling(adapter: Channel): void {
    const controller = new AbortController();
    const session = randomUUID();
    this.deps.sessions.set(session, this);
    this.setState('connecting');
    const startedAt = this.deps.now();
    const run = { controller, done: Promise.resolve(), session };
    this.run = run;
    run.done = (async () => {
      if (adapter.methods.has('connect')) {
        const outcome = await adapter.connect(this.account.account, controller.signal);
        if (!outcome.ok && outcome.errorClass === 'permanent') return this.refuse(session, outcome.message, this.settingsHint());
        if (!outcome.ok) throw new Error(outcome.message);
      }
      // The platform accepted the account (connect checks the token); polls keep it fresh.
      if (this.run?.session === session && this.state === 'connecting') {
        this.lastPollAt = this.deps.now();
        this.setState('polling');
      }
      await adapter.poll(this.account.account, session, controller.signal);
    })().then(
      () => undefined,
      (err: unknown) => {
        if (controller.signal.aborted || this.fatal) return;
        this.backOff(this.deps.now() - startedAt, (err as Error).message);
      },
    ).finally(() => {
      this.deps.sessions.delete(session);
      if (this.run?.session === session) this.run = undefined;
    });
  }

  /** A failed start or loop: try again after a backoff that resets once a loop ran a minute. */
  private backOff(ranMs: number, message: string): void {
    this.failures = ranMs > STABLE_AFTER_MS ? 1 : this.failures + 1;
    const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** (this.failures - 1)) * (0.8 + Math.random() * 0.4);
    this.retryAt = this.deps.now() + wait;
    this.setState('retrying', message);
    this.deps.log.warn({ event: 'channel.transport_failed', channel: this.account.channel, account: this.account.id, error: message, retryInMs: Math.round(wait) }, `channel ${this.label}: ${message}; trying again in ${Math.round(wait / 1000)} s`);
  }

  private settingsHint(): string {
    return `check channels.${this.account.channel}.accounts.${this.account.id} (its token or secret)`;
  }

  /** The platform refused the account outside a poll session (connecting a webhook). */
  private refuseAccount(detail: string): void {
    this.fatal = true;
    this.setState('unavailable', detail, this.settingsHint());
    this.deps.log.error({ event: 'channel.account_unavailable', channel: this.account.channel, account: this.account.id, detail }, `channel ${this.label}: ${detail} (${this.settingsHint()})`);
  }

  private async halt(): Promise<void> {
    const run = this.run;
    if (run) {
      run.controller.abort();
      await run.done;
    }
    if (this.lease) {
      const lease = this.lease;
      this.lease = undefined;
      await this.deps.store.releaseLease(lease).catch(() => undefined);
    }
  }

  private async takeLease(): Promise<JobLease | undefined> {
    this.lease = (await this.deps.store.acquireLease(this.leaseName, this.deps.nodeId, this.deps.leaseMs)) ?? undefined;
    return this.lease;
  }

  private async renewLease(): Promise<boolean> {
    if (!this.lease) return false;
    const ok = await this.deps.store.renewLease(this.lease, this.deps.leaseMs).catch(() => false);
    if (!ok) this.lease = undefined;
    return ok;
  }
}
