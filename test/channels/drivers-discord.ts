/**
 * The conformance driver for Discord: users post in DM channels of the Discord fake, which
 * dispatches MESSAGE_CREATE over its gateway; an event is acked once the bot has heartbeated
 * or resumed with a sequence at or past it (the plugin reports its committed sequence there).
 */
import type { JsonObject } from '../../src/json.js';
import { DiscordFake, type FakeDiscordUser } from '../support/fakes/discord.js';
import type { ChannelDriver, FaultKind, Inbound } from './drivers.js';

export class DiscordDriver implements ChannelDriver {
  readonly channel = 'discord';
  readonly textLimit = 2000;
  readonly ambiguous = 'resent' as const;
  readonly serverError = 'retried' as const;
  readonly fake = new DiscordFake({ heartbeatIntervalMs: 300 });
  private readonly users = new Map<string, FakeDiscordUser>();

  async start(): Promise<void> {
    await this.fake.start();
  }

  async stop(): Promise<void> {
    await this.fake.stop();
  }

  channels(policy: JsonObject): JsonObject {
    return { discord: { api_root: this.fake.url, accounts: { default: { token: this.fake.token, ...policy } } } };
  }

  attach(): void {}

  user(n: number): string {
    const user = this.fake.user(n);
    this.users.set(user.id, user);
    return user.id;
  }

  private channelOf(user: string): string {
    const found = this.users.get(user);
    if (!found) throw new Error(`no user ${user}`);
    return this.fake.dm(found).id;
  }

  async say(user: string, text: string): Promise<Inbound> {
    const found = this.users.get(user)!;
    const { message } = this.fake.post(this.fake.dm(found), found, text);
    return { key: message.id };
  }

  async resend(inbound: Inbound): Promise<Inbound> {
    // Discord redelivers by replaying a session's dispatches; the same message again is the
    // closest a test can get to a duplicate from the platform.
    for (const list of this.fake.messages.values()) {
      const message = list.find((m) => m.id === inbound.key);
      if (message) this.fake.gateway.dispatch('MESSAGE_CREATE', { ...message });
    }
    return inbound;
  }

  acked(inbound: Inbound): boolean {
    // The latest dispatch of this message, in the session it went out in.
    for (const session of [...this.fake.gateway.sessions].reverse()) {
      const sent = session.log.findLast((d) => d.t === 'MESSAGE_CREATE' && d.d['id'] === inbound.key);
      if (sent) return session.taken >= sent.s || this.fake.gateway.sessions.some((later) => later !== session && later.log.some((d) => d.d['id'] === inbound.key && later.taken >= d.s));
    }
    return false;
  }

  replies(user: string): string[] {
    return this.fake.sentIn(this.channelOf(user)).map((m) => m.content);
  }

  sendCalls(user: string): number {
    const path = `/api/v10/channels/${this.channelOf(user)}/messages`;
    return this.fake.calls.filter((c) => c.method === 'POST' && c.path === path).length;
  }

  fault(kind: FaultKind, times = 1): void {
    const fault =
      kind === 'rate_limit'
        ? { kind: 'rate_limit' as const, retryAfter: 2 }
        : kind === 'server_error'
          ? { kind: 'status' as const, status: 500, message: 'Internal Server Error' }
          : kind === 'permanent'
            ? { kind: 'status' as const, status: 403, code: 50001, message: 'Missing Access' }
            : { kind: 'drop' as const };
    this.fake.fault(fault, times);
  }

  conversationId(user: string): string {
    return `discord:default:${this.channelOf(user)}`;
  }
}
