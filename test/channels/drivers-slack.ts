/**
 * The conformance driver for Slack, over either transport: users post in their DM with the
 * bot, and the Slack fake pushes the events to Pincer as signed Events API POSTs (one attempt
 * each, so the suite sees what Pincer answered) or as Socket Mode envelopes (acked, or sent
 * again by the fake after its ack timeout). Replies are what the fake's Web API accepted.
 */
import type { JsonObject } from '../../src/json.js';
import { SlackFake, type SlackUser } from '../support/fakes/slack.js';
import type { Envelope } from '../support/fakes/slack-events.js';
import type { ChannelDriver, FaultKind, Inbound } from './drivers.js';

export class SlackDriver implements ChannelDriver {
  readonly channel = 'slack';
  readonly textLimit = 4000;
  readonly ambiguous = 'reconciled' as const;
  readonly serverError = 'retried' as const;
  readonly fake: SlackFake;
  private readonly users = new Map<string, SlackUser>();
  private readonly envelopes = new Map<string, Envelope[]>();
  private nextKey = 0;

  constructor(readonly transport: 'webhook' | 'socket', fake = new SlackFake({ socket: { ackTimeoutMs: 1500, pingIntervalMs: 1000 } })) {
    this.fake = fake;
    fake.transport = transport;
  }

  async start(): Promise<void> {
    await this.fake.start();
  }

  async stop(): Promise<void> {
    await this.fake.stop();
  }

  channels(policy: JsonObject): JsonObject {
    const account = { token: this.fake.botToken, signing_secret: this.fake.signingSecret, app_token: this.fake.appToken, transport: this.transport === 'socket' ? 'polling' : 'webhook', ...policy };
    return { slack: { api_root: this.fake.url, accounts: { default: account } } };
  }

  attach(url: string): void {
    this.fake.webhookUrl = `${url}/v1/channels/slack/default/webhook`;
  }

  user(n: number): string {
    const user = this.fake.world.user(n);
    this.users.set(user.id, user);
    return user.id;
  }

  private dmOf(user: string) {
    const found = this.users.get(user);
    if (!found) throw new Error(`no user ${user}`);
    return this.fake.world.dm(found);
  }

  async say(user: string, text: string): Promise<Inbound> {
    const message = this.fake.world.add(this.dmOf(user), { user, text });
    return this.deliver(this.fake.world.eventCallbacks(message));
  }

  private async deliver(payloads: Record<string, unknown>[]): Promise<Inbound> {
    if (this.transport === 'socket') {
      const key = String(this.nextKey++);
      this.envelopes.set(key, payloads.map((p) => this.fake.socket.push('events_api', p)));
      return { key };
    }
    let status = 200;
    for (const payload of payloads) {
      const answer = await this.fake.events.post(this.fake.webhookUrl, JSON.stringify(payload), 'application/json');
      if (typeof answer.status !== 'number' || answer.status >= 300) status = typeof answer.status === 'number' ? answer.status : 599;
    }
    return { key: JSON.stringify(payloads), status };
  }

  async resend(inbound: Inbound): Promise<Inbound> {
    if (this.transport === 'socket') {
      for (const envelope of this.envelopes.get(inbound.key) ?? []) this.fake.socket.resend(envelope);
      return inbound;
    }
    return this.deliver(JSON.parse(inbound.key) as Record<string, unknown>[]);
  }

  acked(inbound: Inbound): boolean {
    if (this.transport === 'socket') return (this.envelopes.get(inbound.key) ?? []).every((e) => e.acked);
    return inbound.status !== undefined && inbound.status >= 200 && inbound.status < 300;
  }

  replies(user: string): string[] {
    return this.fake.botMessages(this.dmOf(user).id).map((m) => m.text);
  }

  sendCalls(user: string): number {
    const channel = this.dmOf(user).id;
    return this.fake.calls.filter((c) => c.method === 'chat.postMessage' && c.args['channel'] === channel).length;
  }

  fault(kind: FaultKind, times = 1): void {
    const fault =
      kind === 'rate_limit'
        ? { kind: 'rate_limit' as const, retryAfter: 2 }
        : kind === 'server_error'
          ? { kind: 'status' as const, status: 500 }
          : kind === 'permanent'
            ? { kind: 'error' as const, error: 'not_in_channel' }
            : { kind: 'drop' as const };
    this.fake.fault(fault, times);
  }

  conversationId(user: string): string {
    return `slack:default:${this.dmOf(user).id}`;
  }
}
