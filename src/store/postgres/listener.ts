import pg from 'pg';
import type { Logger } from 'pino';
import { Listeners } from '../../util/listeners.js';
import { quoteIdent } from './schema.js';
import { CONNECT_TIMEOUT_MS } from './tx.js';

const RETRY_MAX_MS = 30_000;

/**
 * One dedicated LISTEN connection per node, shared by everything that hears other nodes (the
 * queue's wake-ups, message events). It reconnects with backoff; while it is down, `onPoll`
 * listeners are called every `pollMs` (notifications are being missed), and `onRestored` once
 * it is back.
 */
export class NotifyListener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Listeners<[string]>>();
  private readonly polls: Listeners<[]>;
  private readonly restores: Listeners<[]>;
  private readonly waiters = new Set<() => void>();
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = 500;
  private stopped = false;

  constructor(
    private readonly connectionString: string,
    private readonly name: string,
    private readonly pollMs: number,
    private readonly log?: Logger,
  ) {
    const onError = (err: unknown) => this.log?.error({ err, event: 'store.listen' }, 'a notification listener failed');
    this.polls = new Listeners(onError);
    this.restores = new Listeners(onError);
  }

  /** Whether the LISTEN connection is up (false: notifications are missed, pollers run). */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Handle the payloads of `channel`. Channels must be added before `start`. */
  on(channel: string, handler: (payload: string) => void): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Listeners((err) => this.log?.error({ err, event: 'store.listen', channel }, 'a notification handler failed'));
      this.handlers.set(channel, set);
    }
    return set.add(handler);
  }

  onPoll(fn: () => void): () => void {
    return this.polls.add(fn);
  }

  onRestored(fn: () => void): () => void {
    return this.restores.add(fn);
  }

  /** Resolves once the LISTEN connection is up (tests; reconnects). */
  whenListening(): Promise<void> {
    if (this.client) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: this.name, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on('notification', (message) => {
      if (message.payload !== undefined) this.handlers.get(message.channel)?.emit(message.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection closed')));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.reconnectDelay = 500;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.stopped || this.client !== client) return;
    this.client = undefined;
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    this.log?.warn({ err, event: 'store.listen' }, `lost the PostgreSQL LISTEN connection (${err.message}); polling every ${this.pollMs} ms while reconnecting`);
    this.pollTimer ??= setInterval(() => this.polls.emit(), this.pollMs);
    this.pollTimer.unref();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.start()
        .then(() => {
          if (this.stopped) return;
          this.log?.info({ event: 'store.listen' }, 'PostgreSQL LISTEN connection restored; polling stopped');
          // Anything notified while it was down was missed.
          this.restores.emit();
        })
        .catch((err: unknown) => {
          this.reconnectDelay = Math.min(RETRY_MAX_MS, this.reconnectDelay * 2);
          this.log?.warn({ err, event: 'store.listen' }, `could not restore the LISTEN connection; trying again in ${this.reconnectDelay} ms`);
          this.scheduleReconnect();
        });
    }, this.reconnectDelay);
    this.reconnectTimer.unref();
  }
}
