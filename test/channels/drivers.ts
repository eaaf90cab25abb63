/**
 * Drivers for the channel conformance suite: each speaks to its platform's fake as a user on
 * that platform would, and reads back what the user sees.
 */
import { webhookHeaders } from '../../src/channels/kit/standard-webhooks.js';
import type { JsonObject } from '../../src/json.js';
import { TelegramFake, type FakeUser } from '../support/fakes/telegram.js';
import { WebhookReceiver } from '../support/fakes/webhook-receiver.js';

export type FaultKind = 'rate_limit' | 'server_error' | 'permanent' | 'dropped';

export interface Inbound {
  /** The platform's own record of the event, to send it again. */
  readonly key: string;
  /** HTTP status Pincer answered (webhook transports). */
  status?: number;
}

export interface ChannelDriver {
  readonly channel: string;
  /** A reply part's longest text on this platform. */
  readonly textLimit: number;
  /**
   * What the outbox does with a send the platform may have got: hold it, resend it (the
   * receiver dedupes), or settle it by what the platform says arrived (Slack's metadata stamp
   * read back from history, WhatsApp's status webhook for the part).
   */
  readonly ambiguous: 'held' | 'resent' | 'reconciled';
  /** A 5xx from the platform: a resend is safe only where the platform dedupes. */
  readonly serverError: 'ambiguous' | 'retried';
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The `channels:` section for an account with these policy keys. */
  channels(policy: JsonObject): JsonObject;
  /** Pincer's base URL, once it listens (webhook transports post to it). */
  attach(url: string): void;
  user(n: number): string;
  say(user: string, text: string): Promise<Inbound>;
  resend(inbound: Inbound): Promise<Inbound>;
  /** The platform no longer holds the event for Pincer (confirmed or answered 2xx). */
  acked(inbound: Inbound): boolean;
  /** What the user sees from the bot, oldest first. */
  replies(user: string): string[];
  /** Platform calls that tried to deliver to this user (sends, not previews' edits). */
  sendCalls(user: string): number;
  fault(kind: FaultKind, times?: number): void;
  conversationId(user: string): string;
}

export class TelegramDriver implements ChannelDriver {
  readonly channel = 'telegram';
  readonly textLimit = 4096;
  readonly ambiguous = 'held' as const;
  readonly serverError = 'ambiguous' as const;
  readonly fake: TelegramFake;
  private readonly users = new Map<string, FakeUser>();

  constructor(fake = new TelegramFake()) {
    this.fake = fake;
  }

  async start(): Promise<void> {
    await this.fake.start();
  }

  async stop(): Promise<void> {
    await this.fake.stop();
  }

  channels(policy: JsonObject): JsonObject {
    return { telegram: { api_root: this.fake.url, accounts: { default: { token: this.fake.token, poll_timeout: 1, ...policy } } } };
  }

  attach(): void {}

  user(n: number): string {
    const id = 1000 + n;
    if (!this.users.has(String(id))) this.users.set(String(id), this.fake.user({ id, first_name: `User${n}` }));
    return String(id);
  }

  private fakeUser(user: string): FakeUser {
    const found = this.users.get(user);
    if (!found) throw new Error(`no user ${user}`);
    return found;
  }

  async say(user: string, text: string): Promise<Inbound> {
    const from = this.fakeUser(user);
    const entities = text.startsWith('/') ? [{ type: 'bot_command' as const, offset: 0, length: text.split(' ')[0]!.length }] : undefined;
    const update = this.fake.pushMessage({ chat: this.fake.privateChat(from), from, text, ...(entities ? { entities } : {}) });
    return { key: JSON.stringify(update) };
  }

  async resend(inbound: Inbound): Promise<Inbound> {
    this.fake.pushUpdate(JSON.parse(inbound.key) as Record<string, unknown>);
    return inbound;
  }

  acked(inbound: Inbound): boolean {
    const id = (JSON.parse(inbound.key) as { update_id: number }).update_id;
    return !this.fake.pendingUpdates.some((u) => u.update_id === id);
  }

  replies(user: string): string[] {
    return this.fake.sent(Number(user)).map((m) => m.text);
  }

  sendCalls(user: string): number {
    return this.fake.calls.filter((c) => c.method === 'sendMessage' && String(c.params.chat_id) === user).length;
  }

  fault(kind: FaultKind, times = 1): void {
    const fault =
      kind === 'rate_limit'
        ? { kind: 'rate_limit' as const, retryAfter: 2 }
        : kind === 'server_error'
          ? { kind: 'status' as const, status: 500, description: 'Internal Server Error' }
          : kind === 'permanent'
            ? { kind: 'status' as const, status: 400, description: 'Bad Request: chat not found' }
            : { kind: 'drop' as const };
    this.fake.fault('sendMessage', fault, times);
  }

  conversationId(user: string): string {
    return `telegram:default:${user}`;
  }
}

const INBOUND_SECRET = 'whsec_' + Buffer.from('inbound-secret-for-tests-0123456789').toString('base64');
const CALLBACK_SECRET = 'whsec_' + Buffer.from('callback-secret-for-tests-0123456789').toString('base64');

export class WebhookDriver implements ChannelDriver {
  readonly channel = 'webhook';
  readonly textLimit = 32_768;
  readonly ambiguous = 'resent' as const;
  readonly serverError = 'retried' as const;
  receiver!: WebhookReceiver;
  private base = '';
  private next = 0;

  async start(): Promise<void> {
    this.receiver = await WebhookReceiver.start({ secret: CALLBACK_SECRET });
  }

  async stop(): Promise<void> {
    await this.receiver.close();
  }

  channels(policy: JsonObject): JsonObject {
    return { webhook: { accounts: { default: { secret: INBOUND_SECRET, callback_url: this.receiver.url, callback_secret: CALLBACK_SECRET, ...policy } } } };
  }

  attach(url: string): void {
    this.base = url;
  }

  user(n: number): string {
    return `visitor-${n}`;
  }

  async say(user: string, text: string): Promise<Inbound> {
    const id = `msg_${process.pid}_${this.next++}`;
    const body = JSON.stringify({ text, sender: { id: user } });
    return this.post(id, body);
  }

  async resend(inbound: Inbound): Promise<Inbound> {
    const { id, body } = JSON.parse(inbound.key) as { id: string; body: string };
    return this.post(id, body);
  }

  private async post(id: string, body: string): Promise<Inbound> {
    const res = await fetch(`${this.base}/v1/channels/webhook/default/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...webhookHeaders(INBOUND_SECRET, id, body) }, body });
    await res.arrayBuffer();
    return { key: JSON.stringify({ id, body }), status: res.status };
  }

  acked(inbound: Inbound): boolean {
    return inbound.status !== undefined && inbound.status >= 200 && inbound.status < 300;
  }

  replies(user: string): string[] {
    return this.receiver.accepted.filter((c) => c.body?.conversationId === user).map((c) => String(c.body.text));
  }

  sendCalls(user: string): number {
    const ids = new Set(this.receiver.accepted.filter((c) => c.body?.conversationId === user).map((c) => c.id));
    return this.receiver.accepted.filter((c) => ids.has(c.id)).length + this.receiver.duplicates.filter((c) => ids.has(c.id)).length;
  }

  fault(kind: FaultKind, times = 1): void {
    const fault = kind === 'rate_limit' ? { type: 'status' as const, status: 429, retryAfter: '2' } : kind === 'server_error' ? { type: 'status' as const, status: 500 } : kind === 'permanent' ? { type: 'status' as const, status: 410 } : { type: 'drop' as const };
    this.receiver.enqueueFault(fault, times);
  }

  conversationId(user: string): string {
    return `webhook:default:${user}`;
  }
}
