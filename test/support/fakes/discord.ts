/**
 * A Discord API for tests, written from Discord's developer documentation: REST under
 * /api/v10 (`Authorization: Bot <token>`, JSON errors `{message, code, errors?}`) with GET
 * /gateway/bot, GET /users/@me, message create (content at most 2,000 characters; `nonce` at
 * most 25 characters, and with `enforce_nonce` a repeated nonce within five minutes returns
 * the message it made the first time), edit, typing; per-channel rate limits with
 * `X-RateLimit-*` headers and 429 `{retry_after}` + `Retry-After`; fault scripts; message
 * components checked as Discord does (discord-validate.ts). The gateway (discord-gateway.ts)
 * dispatches MESSAGE_CREATE for users' messages and for the bot's own; slash commands, button
 * presses and their answers are discord-interactions.ts. Ids are snowflakes of the time they
 * were made, as Discord's are (an interaction's id says when its 3 s and 15 minutes began).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DiscordGatewayFake, type GatewayDispatch } from './discord-gateway.js';
import { DiscordInteractionsFake } from './discord-interactions.js';
import { componentsError, nested } from './discord-validate.js';

/** Discord's epoch (2015-01-01): a snowflake is the milliseconds since it, shifted left 22 bits. */
const DISCORD_EPOCH = 1_420_070_400_000n;

export type DiscordFault =
  | { kind: 'status'; status: number; code?: number; message?: string }
  | { kind: 'rate_limit'; retryAfter: number }
  /** Processed, then the connection is cut before the answer: the caller cannot know. */
  | { kind: 'drop' }
  /** Cut before anything is done. */
  | { kind: 'reset' };

export interface FakeDiscordUser {
  id: string;
  username: string;
  global_name: string | null;
  bot?: boolean;
}

export interface FakeDiscordMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  author: FakeDiscordUser;
  content: string;
  timestamp: string;
  edited_timestamp: string | null;
  mentions: FakeDiscordUser[];
  type: number;
  nonce?: string;
  message_reference?: { message_id: string; channel_id: string };
  referenced_message?: FakeDiscordMessage | null;
  components?: unknown[];
  flags?: number;
  interaction_metadata?: Record<string, unknown>;
  webhook_id?: string;
}

export interface FakeChannel {
  id: string;
  type: 0 | 1 | 11;
  guild_id?: string;
  /** The user of a DM channel. */
  recipient?: FakeDiscordUser;
  /** The bot may not post here (403 Missing Access). */
  closed?: boolean;
}

export interface DiscordCall {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  status: number;
}

export interface DiscordFakeOptions {
  token?: string;
  /** Per-channel message create limit (Discord: 5 per 5 s); false turns it off. */
  channelLimit?: { limit: number; windowMs: number } | false;
  messageContentAllowed?: boolean;
  heartbeatIntervalMs?: number;
}

/** Discord checks a nonce against the same author's messages of the past few minutes. */
const NONCE_WINDOW_MS = 5 * 60_000;

interface Answer {
  status: number;
  body?: unknown;
}

function refusal(status: number, code: number, message: string, errors?: Record<string, unknown>): Answer {
  return { status, body: { message, code, ...(errors ? { errors } : {}) } };
}

function apiError(reply: FastifyReply, status: number, code: number, message: string, errors?: Record<string, unknown>): FastifyReply {
  const answer = refusal(status, code, message, errors);
  return reply.code(answer.status).send(answer.body);
}

export class DiscordFake {
  readonly token: string;
  readonly bot: FakeDiscordUser = { id: '900000000000000001', username: 'PincerBot', global_name: null, bot: true };
  /** Not the bot's user id: older applications' ids differ from their bot's, so the client must ask. */
  readonly applicationId = '900000000000000777';
  readonly gateway: DiscordGatewayFake;
  readonly interactions: DiscordInteractionsFake;
  readonly channels = new Map<string, FakeChannel>();
  readonly messages = new Map<string, FakeDiscordMessage[]>();
  readonly calls: DiscordCall[] = [];
  private readonly app: FastifyInstance;
  private readonly faults: DiscordFault[] = [];
  private readonly nonces = new Map<string, { message: FakeDiscordMessage; at: number }>();
  private readonly windows = new Map<string, number[]>();
  private readonly channelLimit: { limit: number; windowMs: number } | false;
  private snowflake = 0n;
  private backdated = 0n;
  private baseUrl = '';
  messageContentAllowed: boolean;
  /** GET /gateway/bot answers 503 (Discord having trouble). */
  gatewayBotDown = false;

  constructor(options: DiscordFakeOptions = {}) {
    this.token = options.token ?? 'MTAwMDAwMDAwMDAwMDAwMDAx.fake.token-for-tests';
    this.channelLimit = options.channelLimit ?? { limit: 5, windowMs: 5000 };
    this.messageContentAllowed = options.messageContentAllowed ?? true;
    this.gateway = new DiscordGatewayFake(
      { token: () => this.token, bot: () => ({ ...this.bot }), applicationId: () => this.applicationId, messageContentAllowed: () => this.messageContentAllowed },
      options.heartbeatIntervalMs ?? 500,
    );
    this.interactions = new DiscordInteractionsFake({
      applicationId: this.applicationId,
      bot: this.bot,
      calls: this.calls,
      messages: this.messages,
      nextId: (at) => this.nextId(at),
      authorized: (request) => request.headers.authorization === `Bot ${this.token}`,
      storeMessage: (channel, author, content, extra) => Object.assign(this.store(channel, author, content, []), extra ?? {}),
      dispatch: (t, d) => void this.gateway.dispatch(t, d),
    });
    // Interaction tokens in paths are longer than Fastify's default 100-character parameter.
    this.app = Fastify({ logger: false, routerOptions: { maxParamLength: 1024 } });
    this.routes();
    this.interactions.routes(this.app);
  }

  /** The REST root to give @discordjs/rest as `api` (it adds /v10). */
  get url(): string {
    return `${this.baseUrl}/api`;
  }

  async start(): Promise<void> {
    await this.gateway.start();
    this.baseUrl = await this.app.listen({ host: '127.0.0.1', port: 0 });
  }

  async stop(): Promise<void> {
    await this.gateway.stop();
    await this.app.close();
  }

  /** A new snowflake, increasing; with `at`, one of that (earlier) time. */
  nextId(at?: number): string {
    if (at !== undefined) return String(((BigInt(at) - DISCORD_EPOCH) << 22n) | (++this.backdated & 0x3fffffn));
    const now = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
    this.snowflake = now > this.snowflake ? now : this.snowflake + 1n;
    return String(this.snowflake);
  }

  user(n: number, name = `user${n}`): FakeDiscordUser {
    return { id: String(800_000_000_000_000_000n + BigInt(n)), username: name, global_name: name[0]!.toUpperCase() + name.slice(1) };
  }

  /** The DM channel between the bot and this user (made on first use). */
  dm(user: FakeDiscordUser): FakeChannel {
    for (const channel of this.channels.values()) if (channel.type === 1 && channel.recipient?.id === user.id) return channel;
    const channel: FakeChannel = { id: this.nextId(), type: 1, recipient: user };
    this.channels.set(channel.id, channel);
    return channel;
  }

  guildChannel(guildId = '700000000000000001', type: 0 | 11 = 0): FakeChannel {
    const channel: FakeChannel = { id: this.nextId(), type, guild_id: guildId };
    this.channels.set(channel.id, channel);
    return channel;
  }

  /** A user posts: the message is stored and dispatched as MESSAGE_CREATE. */
  post(channel: FakeChannel, author: FakeDiscordUser, content: string, extra: { mentions?: FakeDiscordUser[]; replyTo?: FakeDiscordMessage } = {}): { message: FakeDiscordMessage; dispatch: { session: string; s: number } | undefined } {
    const message = this.store(channel, author, content, extra.mentions ?? [], extra.replyTo);
    return { message, dispatch: this.gateway.dispatch('MESSAGE_CREATE', { ...message }) };
  }

  /** Dispatch a stored message again (a test of the client's dedupe). */
  redispatch(dispatch: GatewayDispatch): void {
    this.gateway.dispatch(dispatch.t, dispatch.d);
  }

  /** What the bot posted in a channel, oldest first. */
  sentIn(channelId: string): FakeDiscordMessage[] {
    return (this.messages.get(channelId) ?? []).filter((m) => m.author.id === this.bot.id);
  }

  fault(fault: DiscordFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  private store(channel: FakeChannel, author: FakeDiscordUser, content: string, mentions: FakeDiscordUser[], replyTo?: FakeDiscordMessage, nonce?: string): FakeDiscordMessage {
    const message: FakeDiscordMessage = {
      id: this.nextId(),
      channel_id: channel.id,
      ...(channel.guild_id !== undefined ? { guild_id: channel.guild_id } : {}),
      author,
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      mentions,
      type: replyTo ? 19 : 0,
      ...(nonce !== undefined ? { nonce } : {}),
      ...(replyTo ? { message_reference: { message_id: replyTo.id, channel_id: channel.id }, referenced_message: replyTo } : {}),
    };
    const list = this.messages.get(channel.id) ?? [];
    list.push(message);
    this.messages.set(channel.id, list);
    return message;
  }

  private routes(): void {
    this.app.addHook('onRequest', async (request, reply) => {
      // An interaction's callback and webhook take no Authorization: their token is in the path.
      if (/^\/api\/v10\/(interactions|webhooks|applications)\//.test(request.url)) return undefined;
      if (request.headers.authorization !== `Bot ${this.token}`) return apiError(reply, 401, 0, '401: Unauthorized');
      return undefined;
    });
    this.app.get('/api/v10/gateway/bot', async (_request, reply) => {
      if (this.gatewayBotDown) return apiError(reply, 503, 0, 'Service Unavailable');
      return { url: this.gateway.url, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 } };
    });
    this.app.get('/api/v10/users/@me', async () => this.bot);
    this.app.get('/api/v10/oauth2/applications/@me', async () => ({ id: this.applicationId, name: this.bot.username, description: '', bot_public: true, bot_require_code_grant: false, bot: this.bot, flags: 0 }));
    this.app.post('/api/v10/channels/:id/messages', (request, reply) => this.guarded(request, reply, () => this.create(request)));
    this.app.patch('/api/v10/channels/:id/messages/:mid', (request, reply) => this.guarded(request, reply, () => this.edit(request)));
    this.app.post('/api/v10/channels/:id/typing', (request, reply) => this.guarded(request, reply, () => ({ status: 204 })));
  }

  private async guarded(request: FastifyRequest, reply: FastifyReply, run: () => Answer): Promise<FastifyReply> {
    const record: DiscordCall = { method: request.method, path: request.url, body: request.body as Record<string, unknown> | undefined, status: 0 };
    this.calls.push(record);
    const isCreate = request.method === 'POST' && request.url.endsWith('/messages');
    const fault = isCreate ? this.faults.shift() : undefined;
    if (fault?.kind === 'reset') return this.cut(reply, record, 0);
    if (fault?.kind === 'status') return this.answered(record, apiError(reply, fault.status, fault.code ?? 0, fault.message ?? 'Internal Server Error'));
    if (fault?.kind === 'rate_limit') return this.answered(record, this.limited(reply, fault.retryAfter));
    const channel = this.channels.get((request.params as { id: string }).id);
    if (!channel) return this.answered(record, apiError(reply, 404, 10003, 'Unknown Channel'));
    if (channel.closed) return this.answered(record, apiError(reply, 403, 50001, 'Missing Access'));
    if (isCreate && this.channelLimit !== false) {
      const now = Date.now();
      const window = (this.windows.get(channel.id) ?? []).filter((at) => now - at < (this.channelLimit as { windowMs: number }).windowMs);
      this.windows.set(channel.id, window);
      const { limit, windowMs } = this.channelLimit;
      if (window.length >= limit) return this.answered(record, this.limited(reply, (windowMs - (now - window[0]!)) / 1000));
      window.push(now);
      const remaining = limit - window.length;
      reply.headers({ 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-reset-after': ((windowMs - (now - window[0]!)) / 1000).toFixed(3), 'x-ratelimit-reset': ((window[0]! + windowMs) / 1000).toFixed(3), 'x-ratelimit-bucket': `channel-${channel.id}` });
    }
    const answer = run();
    if (fault?.kind === 'drop') return this.cut(reply, record, answer.status);
    return this.answered(record, answer.body === undefined ? reply.code(answer.status).send() : reply.code(answer.status).send(answer.body));
  }

  private answered(record: DiscordCall, reply: FastifyReply): FastifyReply {
    record.status = reply.statusCode;
    return reply;
  }

  private cut(reply: FastifyReply, record: DiscordCall, status: number): FastifyReply {
    record.status = status;
    reply.hijack();
    reply.raw.socket?.destroy();
    return reply;
  }

  private limited(reply: FastifyReply, seconds: number): FastifyReply {
    const after = Math.max(0.001, seconds);
    return reply
      .code(429)
      .headers({ 'retry-after': String(Math.ceil(after)), 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': after.toFixed(3), 'x-ratelimit-scope': 'user' })
      .send({ message: 'You are being rate limited.', retry_after: after, global: false });
  }

  private create(request: FastifyRequest): Answer {
    const channel = this.channels.get((request.params as { id: string }).id)!;
    const body = (request.body ?? {}) as { content?: unknown; nonce?: unknown; enforce_nonce?: unknown; message_reference?: { message_id?: unknown }; components?: unknown };
    const content = typeof body.content === 'string' ? body.content : '';
    const hasComponents = Array.isArray(body.components) && body.components.length > 0;
    if (content.length === 0 && !hasComponents) return refusal(400, 50006, 'Cannot send an empty message');
    if (content.length > 2000) return refusal(400, 50035, 'Invalid Form Body', { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] } });
    const problem = componentsError(body.components);
    if (problem) return refusal(400, 50035, 'Invalid Form Body', nested(problem));
    const nonce = typeof body.nonce === 'string' || typeof body.nonce === 'number' ? String(body.nonce) : undefined;
    if (nonce !== undefined && nonce.length > 25) return refusal(400, 50035, 'Invalid Form Body', { nonce: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' }] } });
    if (nonce !== undefined && body.enforce_nonce === true) {
      const known = this.nonces.get(nonce);
      if (known && Date.now() - known.at < NONCE_WINDOW_MS) return { status: 200, body: known.message };
    }
    const refId = typeof body.message_reference?.message_id === 'string' ? body.message_reference.message_id : undefined;
    const replyTo = refId === undefined ? undefined : (this.messages.get(channel.id) ?? []).find((m) => m.id === refId);
    const message = this.store(channel, this.bot, content, [], replyTo, nonce);
    if (hasComponents) message.components = body.components as unknown[];
    if (nonce !== undefined && body.enforce_nonce === true) this.nonces.set(nonce, { message, at: Date.now() });
    // Discord dispatches the bot's own messages to it too; the client drops them.
    this.gateway.dispatch('MESSAGE_CREATE', { ...message });
    return { status: 200, body: message };
  }

  private edit(request: FastifyRequest): Answer {
    const { id, mid } = request.params as { id: string; mid: string };
    const message = (this.messages.get(id) ?? []).find((m) => m.id === mid);
    if (!message) return refusal(404, 10008, 'Unknown Message');
    if (message.author.id !== this.bot.id) return refusal(403, 50005, 'Cannot edit a message authored by another user');
    const body = (request.body ?? {}) as { content?: unknown; components?: unknown };
    const content = body.content;
    if (typeof content !== 'string' || content.length === 0 || content.length > 2000) return refusal(400, 50035, 'Invalid Form Body');
    const problem = componentsError(body.components);
    if (problem) return refusal(400, 50035, 'Invalid Form Body', nested(problem));
    message.content = content;
    // A PATCH replaces only the fields it names: without `components`, the buttons stay.
    if (Array.isArray(body.components)) message.components = body.components;
    message.edited_timestamp = new Date().toISOString();
    return { status: 200, body: message };
  }
}
