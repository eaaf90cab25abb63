import type pg from 'pg';
import type { Logger } from 'pino';
import type { NotifyListener } from '../store/postgres/listener.js';
import { LocalMessageEvents } from './local.js';
import { decodeRelay, encodeHello, encodeProgress, encodeStatuses, encodeTokens, encodeWatch, type RelayedStatus } from './relay-payloads.js';
import { TERMINAL_STATES, type MessageEvent, type MessageEventBus } from './types.js';

/** A remote watch lapses unless its node repeats it within this time. */
const WATCH_TTL_MS = 30_000;
const WATCH_REFRESH_MS = 10_000;
/** Tokens for a remote watcher are coalesced for this long (or until a payload is full). */
const TOKEN_FLUSH_MS = 20;
/** Finished messages remembered for a watch that arrives after the finish. */
const RECENT_LIMIT = 10_000;
const RESYNC_MS = 2_000;
/**
 * An attempt that ended without an outcome this node saw (its lease moved to another worker)
 * is forgotten after this long, so its text is neither kept nor replayed to a late watch.
 */
const IN_FLIGHT_MAX_MS = 15 * 60_000;

interface InFlight {
  attempt: number;
  since: number;
  text: string;
  /** How much of `text` has been relayed to remote watchers. */
  relayed: number;
}

/**
 * Message events for nodes sharing a PostgreSQL store. A client's node subscribes locally and
 * announces a watch (NOTIFY); the node that processes the message relays, for watched
 * messages only, its statuses and its tokens, coalesced, each payload under PostgreSQL's
 * 8,000-byte limit and carrying its offset so the watcher reassembles them in order. Messages
 * nobody watches elsewhere cost nothing. A watch that arrives after the processing started is
 * answered with the text so far; one that arrives after the finish, with the final status.
 *
 * A node that dies between its commit and its relay, or a lost LISTEN connection, loses
 * events: watchers re-read the store every `resyncMs`, so they learn the outcome anyway.
 * A stream whose worker node dies mid-reply continues when another node's retry starts: the
 * watcher gets `processing` with the next attempt number and that attempt's tokens from its
 * start (see docs/api.md).
 */
export class PostgresMessageEvents implements MessageEventBus {
  readonly resyncMs = RESYNC_MS;
  private readonly local: LocalMessageEvents;
  /** Messages this node's clients watch, with their subscriber counts. */
  private readonly watchedHere = new Map<string, number>();
  /** Messages other nodes' clients watch: by message, each watching node and when its watch lapses. */
  private readonly watchedElsewhere = new Map<string, Map<string, number>>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly recent = new Map<string, RelayedStatus>();
  /** Per watched message: the attempt and offset of the next token expected from its relay. */
  private readonly received = new Map<string, { attempt: number; next: number }>();
  private readonly outbox: string[] = [];
  private announce = new Set<string>();
  private statuses: RelayedStatus[] = [];
  private readonly dirtyTokens = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private sending = false;
  private readonly refreshTimer: NodeJS.Timeout;
  private readonly disposers: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    listener: NotifyListener,
    private readonly channel: string,
    private readonly nodeId: string,
    private readonly log?: Logger,
  ) {
    this.local = new LocalMessageEvents((err) => this.log?.error({ err, event: 'events.listener' }, 'a message event listener failed'));
    this.disposers.push(
      listener.on(channel, (payload) => this.onPayload(payload)),
      // Watches announced while the connection was down, ours and theirs, reached nobody.
      listener.onRestored(() => this.start()),
    );
    this.refreshTimer = setInterval(() => this.refresh(), WATCH_REFRESH_MS);
    this.refreshTimer.unref();
  }

  /** Say this node has joined (or is back), once its LISTEN connection is up: the others repeat their watches, and so does it. */
  start(): void {
    this.outbox.push(encodeHello(this.nodeId));
    this.announceAll();
    this.scheduleFlush(0);
  }

  /** How many messages other nodes' clients watch here (tests, diagnostics). */
  get remoteWatches(): number {
    return this.watchedElsewhere.size;
  }

  publish(event: MessageEvent): void {
    this.local.publish(event);
    if (event.type === 'reply') return;
    if (event.type === 'token') {
      const flight = this.inFlight.get(event.id);
      if (!flight) return;
      flight.text += event.delta;
      if (this.isWatchedElsewhere(event.id)) this.queueTokens(event.id);
      return;
    }
    if (event.type === 'step' || event.type === 'tool') {
      const flight = this.inFlight.get(event.id);
      if (!flight || !this.isWatchedElsewhere(event.id)) return;
      // After the tokens and statuses queued before it, so the watcher sees them in order.
      if (this.dirtyTokens.delete(event.id)) this.takeTokens(event.id);
      this.sealStatuses();
      const progress = event.type === 'step' ? { kind: 'step' as const, index: event.index } : { kind: 'tool' as const, tool: event.tool, ok: event.ok, ms: event.ms, ...(event.error !== undefined ? { error: event.error } : {}) };
      this.outbox.push(encodeProgress(this.nodeId, event.id, flight.attempt, progress));
      this.scheduleFlush(0);
      return;
    }
    const status: RelayedStatus = { id: event.id, status: event.status, attempts: event.attempts, ...(event.error ? { error: event.error } : {}) };
    if (event.status === 'processing') {
      this.inFlight.set(event.id, { attempt: event.attempts, since: Date.now(), text: '', relayed: 0 });
    } else {
      this.flushTokensOf(event.id);
      this.inFlight.delete(event.id);
      if (TERMINAL_STATES.has(event.status)) this.remember(status);
    }
    if (this.isWatchedElsewhere(event.id)) this.queueStatus(status);
  }

  subscribe(id: string, listener: (event: MessageEvent) => void): () => void {
    const off = this.local.subscribe(id, listener);
    const count = this.watchedHere.get(id) ?? 0;
    this.watchedHere.set(id, count + 1);
    if (count === 0) {
      this.announce.add(id);
      this.scheduleFlush(0);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      const left = (this.watchedHere.get(id) ?? 1) - 1;
      if (left > 0) this.watchedHere.set(id, left);
      else {
        this.watchedHere.delete(id);
        this.received.delete(id);
      }
    };
  }

  subscribeLocal(listener: (event: MessageEvent) => void): () => void {
    return this.local.subscribeLocal(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.flushTimer);
    for (const dispose of this.disposers.splice(0)) dispose();
    await this.local.close();
  }

  // ---------------------------------------------------------------- what other nodes say

  private onPayload(payload: string): void {
    const relay = decodeRelay(payload);
    if (!relay || relay.node === this.nodeId) return;
    if (relay.kind === 'hello') {
      this.announceAll();
    } else if (relay.kind === 'watch') {
      for (const id of relay.ids) this.watchArrived(id, relay.node);
    } else if (relay.kind === 'statuses') {
      for (const s of relay.statuses) {
        if (!this.local.watched(s.id)) continue;
        // Nodes relay independently: news of an attempt older than one already heard is stale.
        if (!this.isCurrent(s.id, s.attempts) && !TERMINAL_STATES.has(s.status)) continue;
        this.local.deliver({ type: 'status', id: s.id, status: s.status, attempts: s.attempts, ...(s.error ? { error: s.error } : {}) });
      }
    } else if (relay.kind === 'progress') {
      if (!this.local.watched(relay.id) || !this.isCurrent(relay.id, relay.attempt)) return;
      const e = relay.event;
      this.local.deliver(e.kind === 'step' ? { type: 'step', id: relay.id, index: e.index, attempt: relay.attempt } : { type: 'tool', id: relay.id, tool: e.tool, ok: e.ok, ms: e.ms, ...(e.error !== undefined ? { error: e.error } : {}), attempt: relay.attempt });
    } else {
      this.tokensArrived(relay.id, relay.attempt, relay.offset, relay.text);
    }
  }

  private watchArrived(id: string, node: string): void {
    let watchers = this.watchedElsewhere.get(id);
    if (!watchers) this.watchedElsewhere.set(id, (watchers = new Map()));
    const known = watchers.has(node);
    watchers.set(node, Date.now() + WATCH_TTL_MS);
    if (known) return;
    const flight = this.inFlight.get(id);
    if (flight) {
      // Processing had started: say so, then everything streamed so far.
      this.queueStatus({ id, status: 'processing', attempts: flight.attempt });
      flight.relayed = 0;
      if (flight.text) this.queueTokens(id);
      return;
    }
    const finished = this.recent.get(id);
    if (finished) this.queueStatus(finished);
  }

  /** Reassemble in order: skip what was already delivered, start afresh on a new attempt. */
  private tokensArrived(id: string, attempt: number, offset: number, text: string): void {
    if (!this.local.watched(id)) return;
    if (!this.isCurrent(id, attempt)) return;
    const state = this.received.get(id)!;
    if (offset > state.next) this.log?.warn({ event: 'events.gap', id, expected: state.next, offset }, 'streamed tokens were lost between nodes; the stored reply completes the text');
    const fresh = offset + text.length - Math.max(offset, state.next);
    if (fresh <= 0) return;
    const delta = text.slice(text.length - fresh);
    state.next = offset + text.length;
    this.local.deliver({ type: 'token', id, delta, attempt });
  }

  /**
   * Whether news of `attempt` is current: not older than an attempt already heard of. A newer
   * attempt becomes the current one, its text starting afresh.
   */
  private isCurrent(id: string, attempt: number): boolean {
    const state = this.received.get(id);
    if (state && state.attempt > attempt) return false;
    if (!state || state.attempt < attempt) this.received.set(id, { attempt, next: 0 });
    return true;
  }

  // ---------------------------------------------------------------- what this node says

  private isWatchedElsewhere(id: string): boolean {
    const watchers = this.watchedElsewhere.get(id);
    if (!watchers) return false;
    const now = Date.now();
    for (const [node, until] of watchers) if (until < now) watchers.delete(node);
    if (watchers.size > 0) return true;
    this.watchedElsewhere.delete(id);
    return false;
  }

  private remember(status: RelayedStatus): void {
    this.recent.set(status.id, status);
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value as string);
  }

  /** After the message's own pending tokens, so its order holds. */
  private queueStatus(status: RelayedStatus): void {
    if (this.dirtyTokens.delete(status.id)) this.takeTokens(status.id);
    this.statuses.push(status);
    this.scheduleFlush(0);
  }

  private queueTokens(id: string): void {
    this.dirtyTokens.add(id);
    this.scheduleFlush(TOKEN_FLUSH_MS);
  }

  /** A status ends its attempt's tokens: they go out first, so the order holds. */
  private flushTokensOf(id: string): void {
    if (!this.dirtyTokens.delete(id)) return;
    this.takeTokens(id);
  }

  private takeTokens(id: string): void {
    const flight = this.inFlight.get(id);
    if (!flight || flight.relayed >= flight.text.length) return;
    const from = flight.relayed;
    flight.relayed = flight.text.length;
    // Statuses queued before these tokens go out before them.
    this.sealStatuses();
    this.outbox.push(...encodeTokens(this.nodeId, id, flight.attempt, from, flight.text.slice(from)));
  }

  private sealStatuses(): void {
    if (this.statuses.length === 0) return;
    this.outbox.push(...encodeStatuses(this.nodeId, this.statuses));
    this.statuses = [];
  }

  private scheduleFlush(ms: number): void {
    if (this.closed) return;
    if (this.flushTimer && ms > 0) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, ms);
    this.flushTimer.unref();
  }

  /**
   * One round trip per flush, one flush at a time: PostgreSQL delivers a transaction's
   * notifications in the order they were sent, so payloads reach other nodes in order.
   */
  private async flush(): Promise<void> {
    if (this.sending || this.closed) return;
    if (this.announce.size > 0) {
      this.outbox.push(...encodeWatch(this.nodeId, [...this.announce]));
      this.announce = new Set();
    }
    for (const id of this.dirtyTokens) this.takeTokens(id);
    this.dirtyTokens.clear();
    this.sealStatuses();
    if (this.outbox.length === 0) return;
    const payloads = this.outbox.splice(0);
    this.sending = true;
    try {
      await this.pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, ord) ORDER BY ord', [this.channel, payloads]);
    } catch (err) {
      // Watchers re-read the store every resyncMs, so a lost relay delays them, never strands them.
      if (!this.closed) this.log?.warn({ err, event: 'events.relay' }, 'could not relay message events to other nodes; their watchers will read the store');
    } finally {
      this.sending = false;
    }
    if (this.outbox.length > 0 || this.announce.size > 0 || this.statuses.length > 0 || this.dirtyTokens.size > 0) this.scheduleFlush(0);
  }

  private refresh(): void {
    for (const id of this.watchedElsewhere.keys()) this.isWatchedElsewhere(id);
    const forgotten = Date.now() - IN_FLIGHT_MAX_MS;
    for (const [id, flight] of this.inFlight) if (flight.since < forgotten) this.inFlight.delete(id);
    this.announceAll();
  }

  private announceAll(): void {
    if (this.watchedHere.size === 0) return;
    for (const id of this.watchedHere.keys()) this.announce.add(id);
    this.scheduleFlush(0);
  }
}
