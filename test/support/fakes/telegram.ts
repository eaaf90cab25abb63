/**
 * A Telegram Bot API server for tests, written from the Bot API documentation: `POST|GET
 * /bot<token>/<method>` with JSON, form or query parameters, `{ok, result}` and `{ok: false,
 * error_code, description, parameters}` envelopes. It long-polls getUpdates with offset
 * confirmation and the 409 conflicts, delivers updates to a webhook with the secret header
 * (retrying in order, running a method given in the webhook's answer), enforces message
 * limits, HTML parsing, inline keyboards and flood control, and takes fault scripts. Its
 * clock (`now`) governs dates and flood control; waits (long-poll timeouts, webhook retry
 * pacing) are real time.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { FloodControl, TELEGRAM_RATE_LIMITS, type FakeRateLimits, type Violation } from './telegram-limits.js';
import { ok, paramInt, refuse, TelegramWorld, type ApiResult, type FakeChat, type FakeMessage, type FakeUser, type Params } from './telegram-world.js';
import type { FakeEntity } from './telegram-entities.js';
import type { FakeInlineKeyboard } from './telegram-markup.js';
import { WebhookSender, type FakeUpdate } from './telegram-webhook.js';

export type { FakeChat, FakeInlineKeyboard, FakeMessage, FakeUser, Violation };

export type TelegramFault =
  | { kind: 'status'; status: number; description?: string }
  | { kind: 'rate_limit'; retryAfter: number }
  /** Processed, then the connection is cut before the answer: the caller cannot know. */
  | { kind: 'drop' }
  /** The connection is cut before anything is done. */
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number };

export interface TelegramFakeOptions {
  token?: string;
  bot?: { id: number; first_name: string; username: string };
  now?: () => number;
  /** Flood control; false turns it off. */
  limits?: Partial<FakeRateLimits> | false;
  /** Methods flood control counts (default sendMessage only). */
  rateLimited?: readonly string[];
  webhook?: { retryMs?: number; maxAttempts?: number };
  firstUpdateId?: number;
}

export interface FakeCall {
  method: string;
  params: Params;
  at: number;
  status: number;
  /** How the call came: over HTTP, or as the method in a webhook's answer. */
  via: 'http' | 'webhook-reply';
}

export interface OutboundRecord {
  method: string;
  params: Params;
  at: number;
  result: unknown;
}

type Update = FakeUpdate;
const OUTBOUND = new Set(['sendMessage', 'editMessageText', 'sendChatAction', 'answerCallbackQuery', 'deleteMessage']);
const DEFAULT_ALLOWED = ['message', 'edited_message', 'channel_post', 'edited_channel_post', 'callback_query', 'my_chat_member'];
const SECRET = /^[A-Za-z0-9_-]{1,256}$/;

interface PendingPoll {
  limit: number;
  respond: (result: ApiResult) => void;
  timer: NodeJS.Timeout;
}

function decodeFormValue(value: string): unknown {
  // A form carries objects and arrays as JSON text, as the Bot API documents.
  if (/^[[{]/.test(value)) {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value === 'true' ? true : value === 'false' ? false : value;
}

export class TelegramFake {
  readonly token: string;
  readonly world: TelegramWorld;
  readonly flood: FloodControl;
  /** Every call that reached the fake, accepted or not. */
  readonly calls: FakeCall[] = [];
  /** Every accepted send, edit, typing, answer and delete. */
  readonly outbound: OutboundRecord[] = [];
  private readonly now: () => number;
  private readonly app: FastifyInstance;
  private readonly faults = new Map<string, TelegramFault[]>();
  private readonly rateLimited: ReadonlySet<string>;
  private readonly webhook: WebhookSender;
  private queue: Update[] = [];
  private nextUpdateId: number;
  private allowed: string[] = DEFAULT_ALLOWED;
  private poll: PendingPoll | undefined;
  private stopped = false;
  private baseUrl = '';

  constructor(options: TelegramFakeOptions = {}) {
    this.token = options.token ?? '123456:TEST-token_abc';
    this.now = options.now ?? Date.now;
    const bot: FakeUser = { id: options.bot?.id ?? 123456, is_bot: true, first_name: options.bot?.first_name ?? 'Pincer', username: options.bot?.username ?? 'PincerTestBot' };
    this.world = new TelegramWorld(bot, this.now);
    this.flood = new FloodControl(options.limits === false ? { perChat: false, perGroup: false, global: false } : { ...TELEGRAM_RATE_LIMITS, ...options.limits }, this.now);
    this.rateLimited = new Set(options.rateLimited ?? ['sendMessage']);
    this.webhook = new WebhookSender(
      {
        next: () => {
          this.takeAllowed();
          return this.queue[0];
        },
        done: (update) => {
          this.queue = this.queue.filter((u) => u !== update);
        },
        reply: async (method, params) => {
          const result = await this.dispatch(method, params);
          this.calls.push({ method, params, at: this.now(), status: result.ok ? 200 : result.error_code, via: 'webhook-reply' });
        },
        now: this.now,
      },
      options.webhook?.retryMs ?? 50,
      options.webhook?.maxAttempts ?? 10,
    );
    this.nextUpdateId = options.firstUpdateId ?? 100_000;
    this.app = Fastify({ logger: false, forceCloseConnections: true });
    this.app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      const params: Params = {};
      for (const [key, value] of new URLSearchParams(body as string)) params[key] = decodeFormValue(value);
      done(null, params);
    });
    this.app.route({ method: ['GET', 'POST'], url: '/:bot/:method', handler: (req, reply) => this.handle(req, reply) });
  }

  get bot(): FakeUser {
    return this.world.bot;
  }

  /** grammY's `apiRoot`. */
  get url(): string {
    return this.baseUrl;
  }

  /** Each webhook POST and its answer's status. */
  get webhookDeliveries(): WebhookSender['deliveries'] {
    return this.webhook.deliveries;
  }

  get violations(): Violation[] {
    return this.flood.violations;
  }

  async start(): Promise<{ url: string }> {
    this.baseUrl = await this.app.listen({ host: '127.0.0.1', port: 0 });
    return { url: this.baseUrl };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poll?.respond(ok([]));
    this.webhook.stop();
    await this.app.close();
  }

  // ---- the scripted world ---------------------------------------------------------------

  user(fields: Partial<FakeUser> & { id: number }): FakeUser {
    return this.world.addUser({ is_bot: false, first_name: `User${fields.id}`, ...fields });
  }

  /** A private chat with `user` (its id is the user's, as in Telegram). */
  privateChat(user: FakeUser): FakeChat {
    return this.world.addChat({ id: user.id, type: 'private', first_name: user.first_name, ...(user.username !== undefined ? { username: user.username } : {}) });
  }

  group(fields: Partial<FakeChat> & { id: number }): FakeChat {
    return this.world.addChat({ type: 'supergroup', title: `Group${fields.id}`, ...fields });
  }

  block(userId: number): void {
    this.world.blocked.add(userId);
  }

  kick(chatId: number): void {
    this.world.kicked.add(chatId);
  }

  /** A user's message arrives: stored in its chat and queued as an update. */
  pushMessage(input: { chat: FakeChat; from?: FakeUser; text: string; entities?: FakeEntity[]; replyTo?: number; threadId?: number }): Update {
    const replyTo = input.replyTo === undefined ? undefined : this.world.messages.get(input.chat.id)?.get(input.replyTo);
    if (input.threadId !== undefined) this.world.addTopic(input.chat.id, input.threadId);
    const message = this.world.userMessage(input.chat, input.chat.type === 'channel' ? undefined : input.from, input.text, {
      ...(input.entities !== undefined ? { entities: input.entities } : {}),
      ...(replyTo !== undefined ? { reply_to_message: replyTo } : {}),
      ...(input.threadId !== undefined ? { message_thread_id: input.threadId, is_topic_message: true as const } : {}),
    });
    return this.pushUpdate(input.chat.type === 'channel' ? { channel_post: message } : { message });
  }

  /**
   * A user presses the button with this label (or callback_data) on one of the bot's messages,
   * as Telegram's app does: only a button the message shows can be pressed, and the update
   * carries its callback_data and the message as it is now, keyboard included.
   */
  pressButton(input: { chat: FakeChat; from: FakeUser; messageId: number; label: string }): Update {
    const data = this.world.callbackData(input.chat.id, input.messageId, input.label);
    return this.pushCallback({ chat: input.chat, from: input.from, messageId: input.messageId, data });
  }

  /** A callback_query with any data on one of the bot's messages (a raw update, unchecked). */
  pushCallback(input: { chat: FakeChat; from: FakeUser; messageId: number; data: string }): Update {
    const message = this.world.messages.get(input.chat.id)?.get(input.messageId);
    if (message === undefined) throw new Error(`no message ${input.messageId} in chat ${input.chat.id}`);
    const id = `cb${this.nextUpdateId}`;
    this.world.openCallbacks.add(id);
    return this.pushUpdate({ callback_query: { id, from: input.from, message, chat_instance: String(input.chat.id), data: input.data } });
  }

  /** Any update; its update_id is given here. */
  pushUpdate(body: Record<string, unknown>): Update {
    const update: Update = { update_id: this.nextUpdateId++, ...body };
    this.queue.push(update);
    this.wakePoll();
    this.webhook.kick();
    return update;
  }

  /** Updates not yet confirmed (polling) or delivered (webhook). */
  get pendingUpdates(): readonly Update[] {
    return this.queue;
  }

  /** A getUpdates long poll is waiting for updates. */
  get polling(): boolean {
    return this.poll !== undefined;
  }

  /** The next `times` calls of `method` meet `fault`. */
  fault(method: string, fault: TelegramFault, times = 1): void {
    const list = this.faults.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(fault);
    this.faults.set(method, list);
  }

  sent(chatId?: number): FakeMessage[] {
    return this.world.sentByBot(chatId);
  }

  outboundOf(method: string): OutboundRecord[] {
    return this.outbound.filter((r) => r.method === method);
  }

  // ---- HTTP -----------------------------------------------------------------------------

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { bot, method } = req.params as { bot: string; method: string };
    const params: Params = { ...(req.query as Params), ...(typeof req.body === 'object' && req.body !== null ? (req.body as Params) : {}) };
    const fault = this.faults.get(method)?.shift();
    if (fault?.kind === 'reset') return this.cut(reply, method, params, 0);
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    let result: ApiResult;
    if (bot !== `bot${this.token}`) result = refuse(401, 'Unauthorized');
    else if (fault?.kind === 'status') result = refuse(fault.status, fault.description ?? (fault.status >= 500 ? 'Internal Server Error' : 'Bad Request'));
    else if (fault?.kind === 'rate_limit') {
      this.flood.announce(this.scopeOf(params), fault.retryAfter);
      result = { ok: false, error_code: 429, description: `Too Many Requests: retry after ${fault.retryAfter}`, parameters: { retry_after: fault.retryAfter } };
    } else result = await this.dispatch(method, params, reply);
    const status = result.ok ? 200 : result.error_code;
    if (fault?.kind === 'drop') return this.cut(reply, method, params, status);
    this.calls.push({ method, params, at: this.now(), status, via: 'http' });
    await reply.code(status).send(result);
  }

  /** End the connection without an answer. */
  private cut(reply: FastifyReply, method: string, params: Params, status: number): void {
    this.calls.push({ method, params, at: this.now(), status, via: 'http' });
    reply.hijack();
    reply.raw.socket?.destroy();
  }

  private scopeOf(params: Params): string {
    const id = paramInt(params['chat_id']);
    return id === undefined ? 'global' : `chat:${id}`;
  }

  private async dispatch(method: string, params: Params, reply?: FastifyReply): Promise<ApiResult> {
    const result = await this.run(method, params, reply);
    if (result.ok && OUTBOUND.has(method)) this.outbound.push({ method, params, at: this.now(), result: result.result });
    return result;
  }

  private run(method: string, params: Params, reply?: FastifyReply): ApiResult | Promise<ApiResult> {
    switch (method) {
      case 'getMe':
        return ok({ ...this.world.bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false });
      case 'getUpdates':
        return this.getUpdates(params, reply);
      case 'setWebhook':
        return this.setWebhook(params);
      case 'deleteWebhook':
        return this.deleteWebhook(params);
      case 'getWebhookInfo':
        return ok({
          url: this.webhook.target?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: this.queue.length,
          ...(this.webhook.target?.lastErrorDate !== undefined
            ? { last_error_date: this.webhook.target.lastErrorDate, last_error_message: this.webhook.target.lastErrorMessage }
            : {}),
          ...(this.webhook.target !== undefined ? { max_connections: 40, allowed_updates: this.allowed } : {}),
        });
      case 'answerCallbackQuery':
        return this.world.answerCallbackQuery(params);
      case 'setMyCommands':
        return ok(true);
      case 'sendMessage':
      case 'editMessageText':
      case 'sendChatAction':
      case 'deleteMessage':
        return this.chatMethod(method, params);
      default:
        return refuse(404, 'Not Found');
    }
  }

  private chatMethod(method: 'sendMessage' | 'editMessageText' | 'sendChatAction' | 'deleteMessage', params: Params): ApiResult {
    const chat = this.world.resolveChat(params);
    if ('ok' in chat) return chat;
    if (this.rateLimited.has(method)) {
      const verdict = this.flood.admit(method, String(chat.id), chat.type !== 'private');
      if (!verdict.ok) {
        return { ok: false, error_code: 429, description: `Too Many Requests: retry after ${verdict.retryAfter}`, parameters: { retry_after: verdict.retryAfter } };
      }
    }
    const result =
      method === 'sendMessage'
        ? this.world.sendMessage(params, chat)
        : method === 'editMessageText'
          ? this.world.editMessageText(params, chat)
          : method === 'sendChatAction'
            ? this.world.sendChatAction(params)
            : this.world.deleteMessage(params, chat);
    if (result.ok && this.rateLimited.has(method)) this.flood.count(String(chat.id), chat.type !== 'private');
    return result;
  }

  // ---- getUpdates -----------------------------------------------------------------------

  private takeAllowed(): void {
    this.queue = this.queue.filter((u) => this.allowed.some((kind) => kind in u));
  }

  private getUpdates(params: Params, reply?: FastifyReply): ApiResult | Promise<ApiResult> {
    if (this.webhook.target !== undefined) return refuse(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    const offset = paramInt(params['offset']);
    const limit = Math.min(100, Math.max(1, paramInt(params['limit']) ?? 100));
    const timeout = Math.min(50, Math.max(0, paramInt(params['timeout']) ?? 0));
    const allowed = params['allowed_updates'];
    if (Array.isArray(allowed) && allowed.length > 0) this.allowed = allowed.filter((a): a is string => typeof a === 'string');
    // "An update is considered confirmed as soon as getUpdates is called with an offset higher than its update_id."
    if (offset !== undefined && offset > 0) this.queue = this.queue.filter((u) => u.update_id >= offset);
    if (offset !== undefined && offset < 0) this.queue = this.queue.slice(offset);
    // A second poller ends the first one's request.
    this.poll?.respond(refuse(409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running'));
    this.takeAllowed();
    if (this.queue.length > 0 || timeout === 0 || this.stopped) return ok(this.queue.slice(0, limit));
    return new Promise<ApiResult>((resolve) => {
      const pending: PendingPoll = {
        limit,
        respond: (result) => {
          clearTimeout(pending.timer);
          if (this.poll === pending) this.poll = undefined;
          resolve(result);
        },
        timer: setTimeout(() => pending.respond(ok([])), timeout * 1000),
      };
      this.poll = pending;
      // A client that gave up (its abort signal) is no longer polling.
      reply?.raw.on('close', () => {
        if (this.poll === pending) {
          clearTimeout(pending.timer);
          this.poll = undefined;
        }
      });
    });
  }

  private wakePoll(): void {
    const poll = this.poll;
    if (poll === undefined) return;
    this.takeAllowed();
    if (this.queue.length > 0) poll.respond(ok(this.queue.slice(0, poll.limit)));
  }

  // ---- webhook --------------------------------------------------------------------------

  private setWebhook(params: Params): ApiResult {
    const url = typeof params['url'] === 'string' ? params['url'] : '';
    if (url === '') return this.deleteWebhook(params);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return refuse(400, 'Bad Request: bad webhook: Failed to resolve host: Name or service not known');
    }
    // Telegram calls only https; the fake also calls http on this machine, where tests listen.
    const loopback = parsed.hostname === '127.0.0.1' || parsed.hostname === 'localhost';
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) return refuse(400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook');
    const secret = params['secret_token'];
    if (secret !== undefined && (typeof secret !== 'string' || !SECRET.test(secret))) return refuse(400, 'Bad Request: secret token contains unallowed characters');
    const allowed = params['allowed_updates'];
    if (Array.isArray(allowed) && allowed.length > 0) this.allowed = allowed.filter((a): a is string => typeof a === 'string');
    if (params['drop_pending_updates'] === true) this.queue = [];
    this.poll?.respond(refuse(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"));
    this.webhook.set(url, typeof secret === 'string' ? secret : undefined);
    return ok(true, 'Webhook was set');
  }

  private deleteWebhook(params: Params): ApiResult {
    const had = this.webhook.target !== undefined;
    this.webhook.clear();
    if (params['drop_pending_updates'] === true) this.queue = [];
    return ok(true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
  }
}
