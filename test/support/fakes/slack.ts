/**
 * A Slack server for tests, written from api.slack.com's reference: the Web API's `POST
 * /api/<method>` (form-encoded as @slack/web-api sends it, or JSON; Bearer token; errors as
 * HTTP 200 `{ok: false, error}`, rate limits as 429 with Retry-After) for auth.test,
 * chat.postMessage, chat.update, conversations.history and .replies (with message metadata),
 * apps.connections.open; the limits it enforces (40,000 characters of text, Block Kit's 50
 * blocks, 3,000 characters per section, 25 buttons of 75 characters, metadata shape, about
 * one post a second per channel with short bursts); and both event transports
 * (slack-events.ts). The bot's own posts come back as `message` events, as Slack sends them.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { EventsApiSender, SocketModeServer, type EventDelivery, type Envelope, type SocketModeOptions } from './slack-events.js';
import { BOT_ID, BOT_USER, SlackWorld, TEAM_ID, type SlackConversation, type SlackMessage, type SlackUser } from './slack-world.js';

export { BOT_ID, BOT_USER, TEAM_ID } from './slack-world.js';
export type { SlackConversation, SlackMessage, SlackUser } from './slack-world.js';

export const TEXT_LIMIT = 40_000;

export type SlackFault =
  /** 429 with Retry-After seconds. */
  | { kind: 'rate_limit'; retryAfter: number }
  /** An HTTP status other than 200 (Slack's edge failing). */
  | { kind: 'status'; status: number }
  /** `{ok: false, error}`. */
  | { kind: 'error'; error: string }
  /** Processed (the post is made), then the connection is cut before the answer. */
  | { kind: 'drop' };

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  /** "ok", the error string, or the HTTP status when it was not 200. */
  outcome: string;
  at: number;
}

export interface SlackFakeOptions {
  botToken?: string;
  appToken?: string;
  signingSecret?: string;
  /** Posts per channel the bucket holds, refilled one a second (Slack: "short bursts"). */
  burst?: number;
  echoBotMessages?: boolean;
  events?: { retryMs?: number; timeoutMs?: number };
  socket?: SocketModeOptions;
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> };
const ok = (body: Record<string, unknown> = {}): Answer => ({ status: 200, body: { ok: true, ...body } });
const refuse = (error: string, extra: Record<string, unknown> = {}): Answer => ({ status: 200, body: { ok: false, error, ...extra } });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Fields @slack/web-api JSON-encodes inside a form body. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata']);

export class SlackFake {
  readonly botToken: string;
  readonly appToken: string;
  signingSecret: string;
  readonly world = new SlackWorld();
  readonly calls: SlackCall[] = [];
  readonly events: EventsApiSender;
  readonly socket: SocketModeServer;
  /** Where Events API payloads are POSTed: Pincer's webhook URL for the account. */
  webhookUrl = '';
  /** Events API (webhook) or Socket Mode. */
  transport: 'webhook' | 'socket' = 'webhook';
  private readonly app: FastifyInstance;
  private readonly faults: SlackFault[] = [];
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private baseUrl = '';

  constructor(private readonly options: SlackFakeOptions = {}) {
    this.botToken = options.botToken ?? `xoxb-1-${randomBytes(10).toString('hex')}`;
    this.appToken = options.appToken ?? `xapp-1-${randomBytes(10).toString('hex')}`;
    this.signingSecret = options.signingSecret ?? randomBytes(16).toString('hex');
    this.events = new EventsApiSender(() => this.signingSecret, options.events);
    this.socket = new SocketModeServer(options.socket);
    this.app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 4 * 1024 * 1024 });
    this.app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      const args: Record<string, unknown> = {};
      for (const [key, value] of new URLSearchParams(body as string)) {
        try {
          args[key] = JSON_FIELDS.has(key) ? JSON.parse(value) : value;
        } catch {
          args[key] = value;
        }
      }
      done(null, args);
    });
    this.app.post('/api/:method', (req, reply) => this.handle(req, reply));
  }

  get url(): string {
    return `${this.baseUrl}/api/`;
  }

  async start(): Promise<void> {
    this.baseUrl = await this.app.listen({ host: '127.0.0.1', port: 0 });
    this.app.server.on('upgrade', (req, socket, head) => this.socket.handleUpgrade(req, socket, head));
  }

  async stop(): Promise<void> {
    this.socket.close();
    await this.app.close();
  }

  fault(fault: SlackFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  // ---- users acting ---------------------------------------------------------------------

  /** A user posts; the app hears it over its transport. */
  say(user: SlackUser, conversation: SlackConversation, text: string, options: { threadTs?: string } = {}): { message: SlackMessage; sent: Promise<EventDelivery | Envelope>[] } {
    const message = this.world.add(conversation, { user: user.id, text, ...(options.threadTs !== undefined ? { thread_ts: options.threadTs } : {}) });
    return { message, sent: this.world.eventCallbacks(message).map((payload) => this.push('events_api', payload)) };
  }

  /** A user presses a button of the bot's message. */
  press(user: SlackUser, message: SlackMessage, actionId: string): Promise<EventDelivery | Envelope> {
    const payload = this.world.blockActions(user, message, actionId);
    if (!payload) throw new Error(`message ${message.ts} has no button ${actionId}`);
    return this.push('interactive', payload);
  }

  command(user: SlackUser, conversation: SlackConversation, command: string, text: string): Promise<EventDelivery | Envelope> {
    return this.push('slash_commands', this.world.slashCommand(user, conversation, command, text));
  }

  /** One payload over the transport in use. */
  push(type: Envelope['type'], payload: Record<string, unknown>): Promise<EventDelivery | Envelope> {
    if (this.transport === 'socket') return Promise.resolve(this.socket.push(type, payload));
    if (type === 'events_api') return this.events.deliver(this.webhookUrl, JSON.stringify(payload));
    const form = type === 'interactive' ? new URLSearchParams({ payload: JSON.stringify(payload) }) : new URLSearchParams(payload as Record<string, string>);
    return this.events.deliver(this.webhookUrl, form.toString(), 'application/x-www-form-urlencoded');
  }

  /** The bot's posts in a conversation (thread replies included), oldest first. */
  botMessages(conversation: string): SlackMessage[] {
    return (this.world.conversations.get(conversation)?.messages ?? []).filter((m) => m.user === BOT_USER);
  }

  // ---- the Web API ----------------------------------------------------------------------

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { method } = req.params as { method: string };
    const args = isObject(req.body) ? req.body : {};
    const record = (outcome: string): void => void this.calls.push({ method, args, outcome, at: Date.now() });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    let answer: Answer;
    const fault = method === 'chat.postMessage' || method === 'chat.update' ? this.faults.shift() : undefined;
    if (fault?.kind === 'rate_limit') answer = { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(fault.retryAfter) } };
    else if (fault?.kind === 'status') answer = { status: fault.status, body: `<html><body>${fault.status}</body></html>`, headers: { 'content-type': 'text/html' } };
    else if (fault?.kind === 'error') answer = refuse(fault.error);
    else answer = this.run(method, token, args);
    record(answer.status !== 200 ? String(answer.status) : (answer.body as { ok: boolean; error?: string }).ok ? 'ok' : String((answer.body as { error?: string }).error));
    if (fault?.kind === 'drop') {
      reply.hijack();
      reply.raw.socket?.destroy();
      return;
    }
    void reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body);
  }

  private run(method: string, token: string | undefined, args: Record<string, unknown>): Answer {
    if (token === undefined) return refuse('not_authed');
    if (method === 'apps.connections.open') {
      if (token === this.botToken) return refuse('not_allowed_token_type');
      if (token !== this.appToken) return refuse('invalid_auth');
      return ok({ url: `${this.baseUrl.replace(/^http/, 'ws')}/link?ticket=${this.socket.ticket()}&app_id=A0PINCER1` });
    }
    if (token === this.appToken) return refuse('not_allowed_token_type');
    if (token !== this.botToken) return refuse('invalid_auth');
    switch (method) {
      case 'auth.test':
        return ok({ url: 'https://pincer.slack.invalid/', team: 'Pincer', user: 'pincer', team_id: TEAM_ID, user_id: BOT_USER, bot_id: BOT_ID, is_enterprise_install: false });
      case 'chat.postMessage':
        return this.post(args);
      case 'chat.update':
        return this.update(args);
      case 'conversations.history':
        return this.history(args, false);
      case 'conversations.replies':
        return this.history(args, true);
      default:
        return refuse('unknown_method');
    }
  }

  private conversationFor(args: Record<string, unknown>): SlackConversation | Answer {
    const channel = typeof args['channel'] === 'string' ? args['channel'] : '';
    const conversation = this.world.conversations.get(channel);
    if (!conversation) return refuse('channel_not_found');
    if (!conversation.members.has(BOT_USER)) return refuse('not_in_channel');
    if (conversation.archived) return refuse('is_archived');
    return conversation;
  }

  /** Text and Block Kit within Slack's limits; an error string when not. */
  private invalidContent(args: Record<string, unknown>): string | undefined {
    const text = typeof args['text'] === 'string' ? args['text'] : '';
    const blocks = args['blocks'];
    if (text.length === 0 && blocks === undefined) return 'no_text';
    if (text.length > TEXT_LIMIT) return 'msg_too_long';
    if (blocks !== undefined) {
      if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > 50) return 'invalid_blocks';
      for (const block of blocks) {
        if (!isObject(block)) return 'invalid_blocks';
        if (block['type'] === 'section') {
          const t = isObject(block['text']) ? block['text']['text'] : undefined;
          if (typeof t !== 'string' || t.length === 0 || t.length > 3000) return 'invalid_blocks';
        } else if (block['type'] === 'actions') {
          const elements = block['elements'];
          if (!Array.isArray(elements) || elements.length === 0 || elements.length > 25) return 'invalid_blocks';
          const ids = new Set<string>();
          for (const e of elements) {
            if (!isObject(e) || e['type'] !== 'button' || typeof e['action_id'] !== 'string' || e['action_id'].length > 255 || ids.has(e['action_id'])) return 'invalid_blocks';
            ids.add(e['action_id']);
            const label = isObject(e['text']) ? e['text']['text'] : undefined;
            if (typeof label !== 'string' || label.length === 0 || label.length > 75) return 'invalid_blocks';
            if (e['value'] !== undefined && (typeof e['value'] !== 'string' || e['value'].length > 2000)) return 'invalid_blocks';
          }
        } else return 'invalid_blocks';
      }
    }
    const metadata = args['metadata'];
    if (metadata !== undefined) {
      if (!isObject(metadata) || typeof metadata['event_type'] !== 'string' || !/^[a-zA-Z0-9_]{1,100}$/.test(metadata['event_type']) || !isObject(metadata['event_payload'])) return 'invalid_metadata_format';
      if (JSON.stringify(metadata).length > 8000) return 'metadata_too_large';
    }
    return undefined;
  }

  /** About one post a second per channel, with a burst of `burst`. */
  private rateLimited(channel: string): Answer | undefined {
    const burst = this.options.burst ?? 4;
    const now = Date.now();
    const bucket = this.buckets.get(channel) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) / 1000);
    bucket.at = now;
    this.buckets.set(channel, bucket);
    if (bucket.tokens < 1) return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': '1' } };
    bucket.tokens -= 1;
    return undefined;
  }

  private post(args: Record<string, unknown>): Answer {
    const conversation = this.conversationFor(args);
    if (!('members' in conversation)) return conversation;
    const invalid = this.invalidContent(args);
    if (invalid) return refuse(invalid);
    const threadTs = typeof args['thread_ts'] === 'string' ? args['thread_ts'] : undefined;
    if (threadTs !== undefined && !this.world.find(conversation.id, threadTs)) return refuse('thread_not_found');
    const limited = this.rateLimited(conversation.id);
    if (limited) return limited;
    const metadata = isObject(args['metadata']) ? (args['metadata'] as SlackMessage['metadata']) : undefined;
    const message = this.world.add(conversation, {
      user: BOT_USER,
      bot_id: BOT_ID,
      text: typeof args['text'] === 'string' ? args['text'] : '',
      ...(threadTs !== undefined ? { thread_ts: threadTs } : {}),
      ...(Array.isArray(args['blocks']) ? { blocks: args['blocks'] } : {}),
      ...(metadata ? { metadata } : {}),
    });
    if (this.options.echoBotMessages !== false) for (const payload of this.world.eventCallbacks(message)) void this.push('events_api', payload);
    return ok({ channel: conversation.id, ts: message.ts, message: { type: 'message', ...message } });
  }

  private update(args: Record<string, unknown>): Answer {
    const conversation = this.conversationFor(args);
    if (!('members' in conversation)) return conversation;
    const message = typeof args['ts'] === 'string' ? this.world.find(conversation.id, args['ts']) : undefined;
    if (!message) return refuse('message_not_found');
    if (message.user !== BOT_USER) return refuse('cant_update_message');
    const invalid = this.invalidContent({ ...args, metadata: undefined });
    if (invalid) return refuse(invalid);
    message.text = typeof args['text'] === 'string' ? args['text'] : message.text;
    if (Array.isArray(args['blocks'])) message.blocks = args['blocks'];
    message.edited = { user: BOT_USER, ts: this.world.nextTs() };
    return ok({ channel: conversation.id, ts: message.ts, text: message.text });
  }

  /** history: top-level messages newest first; replies: a thread oldest first. Cursor paging. */
  private history(args: Record<string, unknown>, replies: boolean): Answer {
    const conversation = this.conversationFor(args);
    if (!('members' in conversation)) return conversation;
    const oldest = Number(args['oldest'] ?? 0);
    const limit = Math.min(Math.max(Number(args['limit'] ?? 100) || 100, 1), 999);
    let messages: SlackMessage[];
    if (replies) {
      const ts = typeof args['ts'] === 'string' ? args['ts'] : '';
      if (!this.world.find(conversation.id, ts)) return refuse('thread_not_found');
      messages = conversation.messages.filter((m) => m.ts === ts || m.thread_ts === ts);
    } else {
      messages = conversation.messages.filter((m) => m.thread_ts === undefined || m.thread_ts === m.ts).reverse();
    }
    messages = messages.filter((m) => Number(m.ts) >= oldest);
    const start = Number(typeof args['cursor'] === 'string' ? Buffer.from(args['cursor'], 'base64url').toString() : 0) || 0;
    const page = messages.slice(start, start + limit);
    const more = start + limit < messages.length;
    const withMetadata = args['include_all_metadata'] === true || args['include_all_metadata'] === 'true';
    return ok({
      messages: page.map(({ metadata, channel: _c, ...m }) => ({ type: 'message', ...m, ...(withMetadata && metadata ? { metadata } : {}) })),
      has_more: more,
      ...(more ? { response_metadata: { next_cursor: Buffer.from(String(start + limit)).toString('base64url') } } : {}),
    });
  }
}
