/**
 * A Matrix homeserver for tests, speaking the client-server API (`/_matrix/client/v3`) from the
 * spec: access tokens (Bearer header or `access_token` query) answered 401 M_MISSING_TOKEN /
 * M_UNKNOWN_TOKEN; `/sync` with `since` tokens, long polling, a filter's timeline limit and
 * types, joined rooms' timelines, invites and account data; sends deduplicated per access token
 * and transaction id (a repeat answers the first event's id), edits, typing, joins, leaves,
 * joined members, profiles and m.direct; the 65,536-byte event limit; an optional per-sender
 * rate limit answering 429 M_LIMIT_EXCEEDED with retry_after_ms; and fault scripts.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MatrixWorld, type FakeRoom, type FakeUser, type JsonMap, type RoomEvent } from './matrix-world.js';
import { syncAnswer, type SyncFilter } from './matrix-sync.js';

export type { FakeRoom, FakeUser, RoomEvent };
export { MatrixWorld };

export type MatrixEndpoint = 'sync' | 'send' | 'typing' | 'join' | 'leave' | 'whoami' | 'joined_members' | 'profile' | 'account_data';

export type MatrixFault =
  | { kind: 'status'; status: number; errcode?: string; error?: string }
  | { kind: 'rate_limit'; retryAfterMs: number }
  /** Processed, then the connection is cut before the answer: the caller cannot know. */
  | { kind: 'drop' }
  /** The connection is cut before anything is done. */
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number };

export interface MatrixCall {
  endpoint: MatrixEndpoint | 'unknown';
  method: string;
  /** The caller, by its token (undefined when refused). */
  userId: string | undefined;
  roomId?: string;
  txnId?: string;
  status: number;
  at: number;
}

export interface SentRecord {
  roomId: string;
  txnId: string;
  eventId: string;
  sender: string;
  content: JsonMap;
  /** A repeated transaction id: answered with the first event, nothing posted. */
  duplicate: boolean;
}

export interface RateLimit {
  /** Sends per second a sender may keep up, and the burst it may spend at once (Synapse rc_message). */
  perSecond: number;
  burst: number;
}

export interface MatrixFakeOptions {
  now?: () => number;
  rateLimit?: RateLimit;
  /** The bot's localpart and display name. */
  bot?: { localpart: string; displayName: string };
}

const EVENT_LIMIT = 65_536;

class Refusal {
  constructor(
    readonly status: number,
    readonly errcode: string,
    readonly error: string,
    readonly extra: JsonMap = {},
  ) {}
}

export class MatrixFake {
  readonly world: MatrixWorld;
  readonly bot: FakeUser;
  readonly calls: MatrixCall[] = [];
  readonly sends: SentRecord[] = [];
  readonly typing: Array<{ roomId: string; userId: string; typing: boolean; timeout: number | undefined }> = [];
  readonly violations: Array<{ sender: string; at: number }> = [];
  /** The highest `since` each user's syncs have asked from: what a poller has confirmed. */
  readonly confirmed = new Map<string, number>();
  private readonly now: () => number;
  private readonly app: FastifyInstance;
  private readonly faults = new Map<MatrixEndpoint, MatrixFault[]>();
  private readonly txns = new Map<string, string>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private waiters = new Set<() => void>();
  private baseUrl = '';
  private stopped = false;

  constructor(private readonly options: MatrixFakeOptions = {}) {
    this.now = options.now ?? Date.now;
    this.world = new MatrixWorld(this.now);
    this.bot = this.world.user(options.bot?.localpart ?? 'pincer', options.bot?.displayName ?? 'Pincer', 'syt_bot_token_0123456789');
    this.world.onAppend = () => {
      const waiting = this.waiters;
      this.waiters = new Set();
      for (const wake of waiting) wake();
    };
    this.app = Fastify({ logger: false, forceCloseConnections: true });
    this.app.setErrorHandler((err, _req, reply) => {
      void reply.code(400).send({ errcode: 'M_NOT_JSON', error: (err as Error).message });
    });
    this.app.route({ method: ['GET', 'PUT', 'POST'], url: '/_matrix/client/v3/*', handler: (req, reply) => this.handle(req, reply) });
    this.app.setNotFoundHandler((_req, reply) => void reply.code(404).send({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' }));
  }

  /** Syncs waiting for an event (long polls parked at the fake). */
  get parkedSyncs(): number {
    return this.waiters.size;
  }

  get url(): string {
    return this.baseUrl;
  }

  async start(): Promise<{ url: string }> {
    this.baseUrl = await this.app.listen({ host: '127.0.0.1', port: 0 });
    return { url: this.baseUrl };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.world.onAppend();
    await this.app.close();
  }

  /** The next `times` calls to `endpoint` meet this fault. */
  fault(endpoint: MatrixEndpoint, fault: MatrixFault, times = 1): void {
    const list = this.faults.get(endpoint) ?? [];
    for (let i = 0; i < times; i++) list.push(fault);
    this.faults.set(endpoint, list);
  }

  /** A user's message; `text` is a body, or give the whole content. */
  say(room: FakeRoom, sender: FakeUser, text: string | JsonMap): RoomEvent {
    const content = typeof text === 'string' ? { msgtype: 'm.text', body: text } : text;
    return this.world.message(room, sender.userId, content).event;
  }

  /** A DM room of `user` and the bot, both joined, marked direct in both m.direct maps. */
  directRoom(user: FakeUser): FakeRoom {
    const room = this.world.room([user.userId, this.bot.userId]);
    this.world.markDirect(this.bot.userId, user.userId, room.roomId);
    this.world.markDirect(user.userId, this.bot.userId, room.roomId);
    return room;
  }

  /** Whether the bot's poller has asked for events past this one: it committed them. */
  confirmedPast(event: RoomEvent, userId = this.bot.userId): boolean {
    const last = [...this.world.stream].reverse().find((e) => e.kind === 'timeline' && e.event === event);
    return last !== undefined && (this.confirmed.get(userId) ?? 0) >= last.pos;
  }

  /** What a room's members see from `sender` (the bot by default), edits applied. */
  messages(room: FakeRoom, sender = this.bot.userId): JsonMap[] {
    return this.world.messagesOf(room, sender).map((m) => m.content);
  }

  // ---- HTTP -----------------------------------------------------------------------------

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const path = (req.params as { '*': string })['*'].split('?')[0]!;
    const parts = path.split('/').map((p) => decodeURIComponent(p));
    const endpoint = endpointOf(req.method, parts);
    const fault = endpoint === 'unknown' ? undefined : this.faults.get(endpoint)?.shift();
    const query = req.query as Record<string, string>;
    const call: MatrixCall = { endpoint, method: req.method, userId: undefined, status: 200, at: this.now() };
    if (fault?.kind === 'reset') return this.cut(reply, call, 0);
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    let status = 200;
    let body: unknown;
    try {
      const user = this.authenticate(req, query);
      call.userId = user.userId;
      if (fault?.kind === 'status') throw new Refusal(fault.status, fault.errcode ?? (fault.status >= 500 ? 'M_UNKNOWN' : 'M_FORBIDDEN'), fault.error ?? 'Scripted failure');
      if (fault?.kind === 'rate_limit') throw new Refusal(429, 'M_LIMIT_EXCEEDED', 'Too Many Requests', { retry_after_ms: fault.retryAfterMs });
      body = await this.route(endpoint, parts, user, req, query, call);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      status = err.status;
      body = { errcode: err.errcode, error: err.error, ...err.extra };
    }
    if (fault?.kind === 'drop') return this.cut(reply, call, status);
    call.status = status;
    this.calls.push(call);
    await reply.code(status).send(body);
  }

  private cut(reply: FastifyReply, call: MatrixCall, status: number): void {
    call.status = status;
    this.calls.push(call);
    reply.hijack();
    reply.raw.socket?.destroy();
  }

  private authenticate(req: FastifyRequest, query: Record<string, string>): FakeUser {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : query['access_token'];
    if (token === undefined) throw new Refusal(401, 'M_MISSING_TOKEN', 'Missing access token');
    const user = this.world.userByToken(token);
    if (!user) throw new Refusal(401, 'M_UNKNOWN_TOKEN', 'Invalid access token passed.', { soft_logout: false });
    return user;
  }

  private joinedRoom(roomId: string, user: FakeUser): FakeRoom {
    const room = this.world.roomOf(roomId);
    if (!room || room.members.get(user.userId) !== 'join') throw new Refusal(403, 'M_FORBIDDEN', `User ${user.userId} not in room ${roomId}`);
    return room;
  }

  private async route(endpoint: MatrixEndpoint | 'unknown', parts: string[], user: FakeUser, req: FastifyRequest, query: Record<string, string>, call: MatrixCall): Promise<unknown> {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as JsonMap;
    switch (endpoint) {
      case 'whoami':
        return { user_id: user.userId, device_id: 'FAKEDEVICE', is_guest: false };
      case 'sync':
        return this.sync(user, query);
      case 'send':
        call.roomId = parts[1];
        call.txnId = parts[4];
        return this.send(user, parts[1]!, parts[3]!, parts[4]!, body);
      case 'typing': {
        call.roomId = parts[1];
        if (parts[3] !== user.userId) throw new Refusal(403, 'M_FORBIDDEN', 'Cannot set another user\'s typing state');
        this.joinedRoom(parts[1]!, user);
        if (typeof body['typing'] !== 'boolean') throw new Refusal(400, 'M_BAD_JSON', 'typing must be a boolean');
        this.typing.push({ roomId: parts[1]!, userId: user.userId, typing: body['typing'], timeout: typeof body['timeout'] === 'number' ? body['timeout'] : undefined });
        return {};
      }
      case 'join': {
        const roomId = parts[0] === 'join' ? parts[1]! : parts[1]!;
        call.roomId = roomId;
        const room = this.world.roomOf(roomId);
        const membership = room?.members.get(user.userId);
        if (!room || (membership !== 'invite' && membership !== 'join')) throw new Refusal(403, 'M_FORBIDDEN', 'You are not invited to this room.');
        if (membership === 'invite') this.world.setMembership(room, user.userId, user.userId, 'join');
        return { room_id: roomId };
      }
      case 'leave': {
        call.roomId = parts[1];
        const room = this.world.roomOf(parts[1]!);
        if (room && room.members.has(user.userId)) this.world.setMembership(room, user.userId, user.userId, 'leave');
        return {};
      }
      case 'joined_members': {
        const room = this.joinedRoom(parts[1]!, user);
        const joined: JsonMap = {};
        for (const [id, m] of room.members) if (m === 'join') joined[id] = { display_name: this.world.users.get(id)?.displayName ?? null, avatar_url: null };
        return { joined };
      }
      case 'profile': {
        const found = this.world.users.get(parts[1]!);
        if (!found) throw new Refusal(404, 'M_NOT_FOUND', 'Profile was not found');
        return { displayname: found.displayName };
      }
      case 'account_data': {
        if (parts[1] !== user.userId) throw new Refusal(403, 'M_FORBIDDEN', 'Cannot get account data for other users.');
        if (req.method === 'PUT') {
          this.world.setAccountData(user.userId, parts[3]!, body);
          return {};
        }
        const content = this.world.accountData.get(user.userId)?.get(parts[3]!);
        if (!content) throw new Refusal(404, 'M_NOT_FOUND', 'Account data not found');
        return content;
      }
      default:
        throw new Refusal(404, 'M_UNRECOGNIZED', 'Unrecognized request');
    }
  }

  private async sync(user: FakeUser, query: Record<string, string>): Promise<unknown> {
    let since: number | undefined;
    if (query['since'] !== undefined) {
      const m = /^s(\d+)$/.exec(query['since']);
      if (!m) throw new Refusal(400, 'M_INVALID_PARAM', `Invalid since token ${query['since']}`);
      since = Number(m[1]);
      this.confirmed.set(user.userId, Math.max(this.confirmed.get(user.userId) ?? 0, since));
    }
    const filter = parseFilter(query['filter']);
    const timeout = Math.min(Number(query['timeout'] ?? 0) || 0, 60_000);
    const deadline = Date.now() + timeout;
    for (;;) {
      const answer = syncAnswer(this.world, user.userId, since, filter);
      if (since === undefined || answer.hasNews || Date.now() >= deadline || this.stopped) return answer.body;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiters.delete(wake);
          resolve();
        }, deadline - Date.now());
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        this.waiters.add(wake);
      });
    }
  }

  private send(user: FakeUser, roomId: string, type: string, txnId: string, content: JsonMap): unknown {
    const room = this.joinedRoom(roomId, user);
    // Transaction ids are scoped to the access token (the device) that sent them.
    const key = `${user.token}\n${roomId}\n${txnId}`;
    const known = this.txns.get(key);
    if (known !== undefined) {
      this.sends.push({ roomId, txnId, eventId: known, sender: user.userId, content, duplicate: true });
      return { event_id: known };
    }
    const size = Buffer.byteLength(JSON.stringify({ type, room_id: roomId, sender: user.userId, content, origin_server_ts: this.now(), event_id: '$' + 'x'.repeat(43) }));
    if (size > EVENT_LIMIT) throw new Refusal(413, 'M_TOO_LARGE', `event too large: ${size} bytes`);
    if (type === 'm.room.message' && typeof content['body'] !== 'string') throw new Refusal(400, 'M_BAD_JSON', 'body must be a string');
    this.spend(user.userId);
    const event = this.world.send(room, user.userId, type, content);
    this.txns.set(key, event.event_id);
    this.sends.push({ roomId, txnId, eventId: event.event_id, sender: user.userId, content, duplicate: false });
    return { event_id: event.event_id };
  }

  private spend(sender: string): void {
    const limit = this.options.rateLimit;
    if (!limit) return;
    const now = this.now();
    const bucket = this.buckets.get(sender) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    this.buckets.set(sender, bucket);
    if (bucket.tokens < 1) {
      this.violations.push({ sender, at: now });
      throw new Refusal(429, 'M_LIMIT_EXCEEDED', 'Too Many Requests', { retry_after_ms: Math.ceil(((1 - bucket.tokens) / limit.perSecond) * 1000) });
    }
    bucket.tokens -= 1;
  }
}

function endpointOf(method: string, p: string[]): MatrixEndpoint | 'unknown' {
  if (method === 'GET' && p[0] === 'account' && p[1] === 'whoami') return 'whoami';
  if (method === 'GET' && p[0] === 'sync' && p.length === 1) return 'sync';
  if (method === 'PUT' && p[0] === 'rooms' && p[2] === 'send' && p.length === 5) return 'send';
  if (method === 'PUT' && p[0] === 'rooms' && p[2] === 'typing' && p.length === 4) return 'typing';
  if (method === 'POST' && ((p[0] === 'join' && p.length === 2) || (p[0] === 'rooms' && p[2] === 'join' && p.length === 3))) return 'join';
  if (method === 'POST' && p[0] === 'rooms' && p[2] === 'leave' && p.length === 3) return 'leave';
  if (method === 'GET' && p[0] === 'rooms' && p[2] === 'joined_members' && p.length === 3) return 'joined_members';
  if (method === 'GET' && p[0] === 'profile' && p.length === 2) return 'profile';
  if (p[0] === 'user' && p[2] === 'account_data' && p.length === 4 && (method === 'GET' || method === 'PUT')) return 'account_data';
  return 'unknown';
}

function parseFilter(text: string | undefined): SyncFilter {
  if (text === undefined || !text.startsWith('{')) return { limit: 10, types: undefined };
  try {
    const parsed = JSON.parse(text) as { room?: { timeline?: { limit?: number; types?: string[] } } };
    const timeline = parsed.room?.timeline ?? {};
    return { limit: typeof timeline.limit === 'number' ? timeline.limit : 10, types: Array.isArray(timeline.types) ? timeline.types : undefined };
  } catch {
    throw new Refusal(400, 'M_NOT_JSON', 'filter is not valid JSON');
  }
}
