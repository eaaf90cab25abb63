/**
 * The conformance driver for Matrix: each user has a DM room with the bot on the homeserver
 * fake; a user's message is an event in it, acked once the bot's /sync asks from a token past
 * it (the loop moves its token only after the commit).
 */
import type { JsonObject } from '../../src/json.js';
import { MatrixFake, type FakeRoom, type FakeUser, type RoomEvent } from '../support/fakes/matrix.js';
import type { ChannelDriver, FaultKind, Inbound } from './drivers.js';

export class MatrixDriver implements ChannelDriver {
  readonly channel = 'matrix';
  /** Bytes of body per event (ASCII here, so characters). */
  readonly textLimit = 32_000;
  readonly ambiguous = 'resent' as const;
  readonly serverError = 'retried' as const;
  readonly fake: MatrixFake;
  private readonly users = new Map<string, { user: FakeUser; room: FakeRoom }>();
  private readonly events = new Map<string, RoomEvent>();

  constructor(fake = new MatrixFake()) {
    this.fake = fake;
  }

  async start(): Promise<void> {
    await this.fake.start();
  }

  async stop(): Promise<void> {
    await this.fake.stop();
  }

  channels(policy: JsonObject): JsonObject {
    return { matrix: { homeserver: this.fake.url, accounts: { default: { access_token: this.fake.bot.token, poll_timeout: 1, ...policy } } } };
  }

  attach(): void {}

  user(n: number): string {
    const localpart = `user${n}`;
    const userId = `@${localpart}:example.org`;
    if (!this.users.has(userId)) {
      const user = this.fake.world.user(localpart, `User ${n}`);
      this.users.set(userId, { user, room: this.fake.directRoom(user) });
    }
    return userId;
  }

  private of(user: string): { user: FakeUser; room: FakeRoom } {
    const found = this.users.get(user);
    if (!found) throw new Error(`no user ${user}`);
    return found;
  }

  async say(user: string, text: string): Promise<Inbound> {
    const { user: from, room } = this.of(user);
    const event = this.fake.say(room, from, text);
    this.events.set(event.event_id, event);
    return { key: event.event_id };
  }

  async resend(inbound: Inbound): Promise<Inbound> {
    const event = this.events.get(inbound.key);
    if (!event) throw new Error(`no event ${inbound.key}`);
    // A client syncing from an older token gets the same event again.
    this.fake.world.pushEvent(event);
    return inbound;
  }

  acked(inbound: Inbound): boolean {
    const event = this.events.get(inbound.key);
    return event !== undefined && this.fake.confirmedPast(event);
  }

  replies(user: string): string[] {
    return this.fake.messages(this.of(user).room).map((content) => String(content['body']));
  }

  sendCalls(user: string): number {
    const { room } = this.of(user);
    return this.fake.calls.filter((c) => c.endpoint === 'send' && c.roomId === room.roomId && c.userId === this.fake.bot.userId).length;
  }

  fault(kind: FaultKind, times = 1): void {
    const fault =
      kind === 'rate_limit'
        ? { kind: 'rate_limit' as const, retryAfterMs: 2000 }
        : kind === 'server_error'
          ? { kind: 'status' as const, status: 500, errcode: 'M_UNKNOWN', error: 'Internal server error' }
          : kind === 'permanent'
            ? { kind: 'status' as const, status: 403, errcode: 'M_FORBIDDEN', error: 'User not in room' }
            : { kind: 'drop' as const };
    this.fake.fault('send', fault, times);
  }

  conversationId(user: string): string {
    return `matrix:default:${this.of(user).room.roomId.slice(1)}`;
  }
}
