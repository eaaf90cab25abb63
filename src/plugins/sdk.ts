/**
 * The plugin author's API, importable as `pincer/plugin`. It is types plus one identity
 * function, so a plugin thread loads nothing of Pincer but its own code.
 *
 * A plugin runs in its own worker thread. Everything it receives (the message, analysis,
 * config) is a structured-clone copy, and everything it returns must be cloneable (JSON-like).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
export type Awaitable<T> = T | Promise<T>;

/** Undo one registration. Pincer keeps every disposer on the plugin's scope and runs them on unload. */
export type Disposer = () => void;

/** The message as a plugin sees it. */
export interface PluginMessage {
  readonly id: string;
  readonly conversationId: string;
  readonly text: string;
  readonly sender: string | null;
  readonly channel: string;
  readonly priority: 'high' | 'normal' | 'low';
  readonly metadata: JsonObject | null;
  /** 1 on the first try; higher when the queue retries the message. */
  readonly attempts: number;
}

export interface StageInput {
  readonly message: PluginMessage;
  /** Results of the analyzers that ran before this call, by analyzer name. */
  readonly analysis: JsonObject;
  /** Aborted when the call times out or Pincer shuts down. */
  readonly signal: AbortSignal;
}

export interface RespondInput extends StageInput {
  /** Send part of the reply to clients watching the message (SSE) before returning it. */
  stream(delta: string): void;
}

export interface CommandInput extends StageInput {
  /** The text after "/name", trimmed. */
  readonly args: string;
}

export interface PluginReply {
  text: string;
  /** Structured extras returned to API clients with the reply. */
  data?: JsonObject;
}

export interface AnalyzerSpec {
  /** The key its result is stored under in the message's analysis. */
  name: string;
  analyze(input: StageInput): Awaitable<JsonValue | undefined>;
}

export interface ResponderSpec {
  name: string;
  /** Lower runs first: commands are answered before responders, model responders use 100. */
  order?: number;
  /** Return a reply, or undefined to let the next responder try. */
  respond(input: RespondInput): Awaitable<PluginReply | undefined>;
}

export interface CommandSpec {
  /** Without the slash: "ping" answers "/ping". */
  name: string;
  description: string;
  /** Shown by /help after the name, e.g. "<text>". */
  usage?: string;
  run(input: CommandInput): Awaitable<string | PluginReply>;
}

export interface HooksSpec {
  name?: string;
  before?(input: StageInput): Awaitable<void>;
  after?(input: StageInput & { reply: PluginReply & { responder: string } }): Awaitable<void>;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteRequest {
  readonly method: HttpMethod;
  /** The path below the plugin's prefix, e.g. "/translate". */
  readonly path: string;
  readonly params: Record<string, string>;
  readonly query: Record<string, string | string[]>;
  readonly headers: Record<string, string>;
  readonly body: JsonValue | undefined;
}

export interface RouteResponse {
  status?: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON, strings as text/plain. */
  body?: JsonValue;
}

/** What a tool call carries besides its arguments: what it serves, and how to stay idempotent. */
export interface ToolInvocation {
  /** Aborted when the call's timeout, the run's time budget or a shutdown ends it. */
  readonly signal: AbortSignal;
  readonly messageId?: string;
  readonly attempt?: number;
  readonly toolCallId?: string;
  /**
   * `<message id>:<step>:<call>`: the same for the same call of the same message when the
   * message is delivered again, so a write tool can hand it to its API as an idempotency key.
   */
  readonly idempotencyKey?: string;
  readonly conversationId?: string;
  /** `<channel>:<user id>` on a chat platform; what the client sent on the API. */
  readonly sender?: string;
  readonly channel?: string;
  /** The sender's IANA time zone ("Europe/Berlin") when its channel knows it, e.g. the web chat's browser. */
  readonly senderTimeZone?: string;
}

/** A function the bot's model may call in its tool loop (docs/tools.md). */
export interface ToolSpec {
  /** Letters, digits, "_" and "-", at most 64: what model vendors accept. */
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: JsonObject;
  /** "read" tools have no side effects; "write" tools change something outside the bot. */
  effect: 'read' | 'write';
  /** Running it twice with the same `idempotencyKey` does no more than once (default false). */
  idempotent?: boolean;
  /** Milliseconds before the call is given up (its signal aborts); default `agent.tool_timeout`. */
  timeout?: number;
  /** "always": every call waits for a person to approve it (docs/tools.md, Approvals); default "never". */
  approval?: 'always' | 'never';
  /**
   * Phrases that ask for this tool, with `{slot}`s naming parameters ("track order {order_id}"):
   * with no language model configured, the built-in model calls the tool when a message matches
   * one well enough, filling the slots from the message. Each slot must be a parameter.
   */
  examples?: string[];
  execute(args: JsonObject, t: ToolInvocation): Awaitable<JsonValue>;
}

// ---- channels: a chat platform's wire protocol ------------------------------------------
//
// Pincer's core owns durability, access policy and scheduling; a channel plugin owns only
// wire I/O and translation. Every function below either is pure (webhook, plan) or makes one
// platform call (send, edit, typing); the poll loop hands updates to `io.ingest` and asks the
// platform for more only after that resolves, which is after the commit.

export type ConversationKind = 'direct' | 'group' | 'channel';

export interface ChannelConversation {
  kind: ConversationKind;
  /** The platform's chat id, as a string. */
  id: string;
  /** A thread or forum topic inside the chat. */
  threadId?: string;
  title?: string;
}

export interface ChannelSender {
  id: string;
  name?: string;
  username?: string;
  isBot: boolean;
  /** The sender's IANA time zone, when the platform says (an unknown zone is dropped, not an error). */
  timeZone?: string;
}

/** One update from a platform, normalized. Core turns it into a message (or drops it, by policy). */
export interface InboundEvent {
  /** The platform's delivery id (Telegram update_id, webhook-id): the dedupe key. */
  eventId: string;
  /** The platform's id of the message, the target of a reply. */
  messageId: string;
  /** A button press is an action; "/cmd" is a command (with "@botname" already removed). */
  kind: 'message' | 'command' | 'action';
  conversation: ChannelConversation;
  sender: ChannelSender;
  /** Plain text with the bot's mention stripped. */
  text: string;
  /** Evidence only: core decides what counts, by the account's policy. */
  mentions: { bot: boolean; replyToBot?: boolean; users?: string[] };
  replyTo?: { messageId: string; senderId?: string; isBot?: boolean };
  action?: { id: string; value?: string };
  /** The bot's own message echoed back by the platform: always dropped. */
  fromSelf?: boolean;
  /** Unix milliseconds. */
  timestamp: number;
  /** The platform's payload, kept (bounded) in the message's metadata for debugging. */
  raw?: JsonValue;
}

/** One bot identity on a platform: its key under `channels.<id>.accounts` and its settings. */
export interface ChannelAccount {
  readonly id: string;
  /** The channel's settings (api_root, ...) merged with the account's (token, ...). */
  readonly config: JsonObject;
}

/** Where a reply goes. */
export interface ChannelTarget {
  conversation: ChannelConversation;
  /** The platform message id being answered. */
  replyTo?: string;
}

/**
 * A button offered under a reply (a plugin's `reply.data.buttons`). Pressing it comes back as
 * an `action` event whose `action.id` is `value`, and the pipeline sees `value` as the text:
 * a value such as "/order 42" runs that command.
 */
export interface ReplyButton {
  /** Shown on the button; a channel shortens it to its own limit (WhatsApp: 20 characters). */
  label: string;
  /** At most 64 bytes: Telegram's callback_data limit, the smallest of the platforms. */
  value: string;
}

/** What a reply carries besides its text, for `plan`. */
export interface PlanExtras {
  /** At most 10, in order; a channel that cannot show them all says so in its README. */
  buttons?: ReplyButton[];
}

/** One platform message of a reply, rendered and within the platform's limits. */
export interface RenderedPart {
  /** What is sent, in the platform's markup. */
  text: string;
  /** The same part as plain text: sent once instead when the platform rejects the markup. */
  plain: string;
  /** Adapter-specific extras (parse mode, buttons), kept with the delivery. */
  extra?: JsonObject;
}

/** A token bucket the delivery scheduler must pass before a send: `limit` sends per `intervalMs`. */
export interface RateBucket {
  /** Unique within the account: "global", "chat:123". */
  key: string;
  limit: number;
  intervalMs: number;
}

export interface DeliveryPlan {
  parts: RenderedPart[];
  buckets: RateBucket[];
}

export type ReconcileResult = { status: 'sent'; platformMessageId?: string } | { status: 'not_sent' } | { status: 'unresolved' };

export interface ChannelReceipt {
  /** The platform's id of the message sent (edit target, echo filter). */
  platformMessageId?: string;
}

/**
 * How a failed platform call is treated. Only the adapter knows its platform, so it says:
 * `rate_limited` (429; waits `retryAfterMs` without using an attempt), `transient` (safe to
 * retry: the request never reached the platform, or the platform dedupes), `permanent` (chat
 * not found, blocked: dead), `ambiguous` (it may have been delivered: held unless the channel
 * dedupes), `unparsable` (the platform rejected the markup: the plain text is sent instead).
 */
export type ChannelErrorClass = 'rate_limited' | 'transient' | 'permanent' | 'ambiguous' | 'unparsable';

export const CHANNEL_ERROR = 'CHANNEL_ERROR';

/** Throw from send/edit/typing to classify a failure. Anything else thrown counts as ambiguous. */
export class ChannelError extends Error {
  readonly code = CHANNEL_ERROR;
  constructor(
    readonly errorClass: ChannelErrorClass,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

/** What a poll loop may tell Pincer. */
export interface ChannelIngestIO {
  /**
   * Commit these updates (an empty list is a heartbeat); resolves after the commit. A `cursor`
   * (Matrix's next_batch, a gateway's session and sequence) is stored after the events, so a
   * restart resumes from the last batch that was committed.
   */
  ingest(events: InboundEvent[], options?: { cursor?: JsonValue }): Promise<void>;
  /** The cursor stored with the last committed batch of this account, or null. */
  cursor(): Promise<JsonValue | null>;
  /**
   * The account cannot work until an operator acts (a revoked token, a second poller): the
   * loop should return after this; Pincer shows `detail` and `hint` and does not restart it.
   */
  fatal(detail: string, hint?: string): void;
}

export interface WebhookRequest {
  /** POST for events; GET for a platform's verification handshake (WhatsApp's hub.challenge). */
  readonly method: 'GET' | 'POST';
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  /** The body exactly as received (signatures are over these bytes), as UTF-8 text. */
  readonly body: string;
}

/**
 * A platform's status of a message the bot sent (WhatsApp's status callbacks). The host
 * matches it to its delivery by `reference`, the part's `extra.webhookId` that the channel
 * sent with the part and the platform echoed back.
 */
export interface DeliveryStatus {
  platformMessageId: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  /** The platform's time of the status, Unix milliseconds. */
  timestamp: number;
  /** Why, for `failed`: shown on the delivery. */
  error?: string;
  /** The part's `extra.webhookId` (`<deliveryId>.<part>`) as echoed back; without it the status matches nothing. */
  reference?: string;
}

/**
 * The answer to a webhook: events to commit (then `status`, default 200), or a refusal.
 * `receipts` are applied to the deliveries after the events are committed, before the answer.
 */
export type WebhookVerdict =
  | { accept: true; events: InboundEvent[]; receipts?: DeliveryStatus[]; status?: number; body?: JsonValue }
  | { accept: false; status: number; code: string; message: string };

export interface ChannelCapabilities {
  /** A sent message can be edited (reply previews are streamed into it). */
  edit: boolean;
  typing: boolean;
  /**
   * `native`: the platform drops a repeated send itself (a nonce, a webhook-id), so a send
   * that may have arrived is simply resent. `reconcile`: the platform can be asked whether it
   * arrived (Slack: a metadata stamp read back from history), see `reconcile`. `none`: it may
   * show twice, so such a send is held.
   */
  idempotentSend: 'native' | 'reconcile' | 'none';
  /** The longest message the platform takes, in its own measure, after rendering. */
  textLimit: number;
  /** The transports this channel offers; an account picks one with `transport`. */
  transports: Array<'polling' | 'webhook'>;
}

export interface ChannelSpec {
  /** The channel id: "telegram". Messages from it carry `channel: "telegram"`. */
  id: string;
  capabilities: ChannelCapabilities;
  /** Long-poll loop for `transport: polling`: runs until `signal` aborts. */
  poll?(account: ChannelAccount, io: ChannelIngestIO, signal: AbortSignal): Promise<void>;
  /** Verify and parse a request on the host's webhook route. Pure: no platform calls. */
  webhook?(request: WebhookRequest, account: ChannelAccount): Awaitable<WebhookVerdict>;
  /** Called when an account's transport starts (register a webhook URL, check the token). */
  connect?(account: ChannelAccount, signal: AbortSignal): Promise<void>;
  /**
   * Render a Markdown reply into parts within the limit, and name the rate buckets it passes.
   * Pure. Buttons, when the reply has them, belong on the last part (its `extra`).
   */
  plan(markdown: string, target: ChannelTarget, account: ChannelAccount, extras?: PlanExtras): Awaitable<DeliveryPlan>;
  /** One platform call. */
  send(part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<ChannelReceipt>;
  edit?(platformMessageId: string, part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<ChannelReceipt>;
  /**
   * For `idempotentSend: 'reconcile'`: did an earlier attempt at this part (the same
   * `part.extra.webhookId`) reach the platform? Asked before a part is sent again.
   */
  reconcile?(part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<ReconcileResult>;
  /** Show (or, with "stop", clear) a typing indicator. */
  typing?(target: ChannelTarget, account: ChannelAccount, state: 'start' | 'stop', signal: AbortSignal): Promise<void>;
}

export interface RouteSpec {
  method: HttpMethod;
  /** Below /v1/plugins/<plugin-name>, with find-my-way parameters: "/items/:id". */
  path: string;
  handler(request: RouteRequest): Awaitable<RouteResponse | JsonValue>;
}

/** A service another plugin provides, seen through RPC: every method returns a promise. */
export type RemoteService<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

export interface CommandInfo {
  name: string;
  description: string;
  usage?: string;
  plugin?: string;
}

export interface QueueStatsView {
  depth: number;
  limit: number;
  byState: Record<'queued' | 'processing' | 'done' | 'failed' | 'dead', number>;
  completed: number;
}

/** A message a plugin puts into the durable queue (a reminder, an update from a chat platform). */
export interface EnqueueInput {
  text: string;
  /** Messages of one conversation are answered one at a time, in order. */
  conversationId: string;
  sender?: string;
  /** Where the message came from; default "plugin". */
  channel?: string;
  priority?: 'high' | 'normal' | 'low';
  metadata?: JsonObject;
  /** The same key always maps to the same message (a platform's update id, say). */
  idempotencyKey?: string;
}

/** Answered only once the message is committed to the store. */
export interface EnqueuedMessage {
  id: string;
  conversationId: string;
  status: 'queued' | 'processing' | 'done' | 'failed' | 'dead';
  /** True when the idempotency key matched an earlier message: nothing new was queued. */
  duplicate: boolean;
}

export interface ModelToolCall {
  id: string;
  name: string;
  /** The arguments as JSON text, exactly as the model wrote them. */
  arguments: string;
}

export interface ModelMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  toolCalls?: ModelToolCall[];
  toolCallId?: string;
  toolName?: string;
}

export interface ModelRequest {
  messages: ModelMessage[];
  maxTokens?: number;
  temperature?: number;
  tools?: Array<{ name: string; description?: string; parameters: JsonObject }>;
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
  /**
   * Stops the call early. Without one, a call made inside a handler stops when that handler's
   * own call is aborted (its time budget, shutdown).
   */
  signal?: AbortSignal;
}

export type ModelFinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'error';

export interface ModelResult {
  text: string;
  toolCalls?: ModelToolCall[];
  finishReason: ModelFinishReason;
  usage: { inputTokens: number; outputTokens: number };
  data?: JsonObject;
}

/** Text deltas and whole tool calls as they arrive, then exactly one `finish`. */
export type ModelStreamPart =
  | { type: 'text-delta'; delta: string }
  | { type: 'tool-call'; toolCall: ModelToolCall }
  | { type: 'finish'; finishReason: ModelFinishReason; usage: { inputTokens: number; outputTokens: number }; data?: JsonObject };

export interface EmbeddingsResult {
  /** One vector per value, in order. */
  embeddings: number[][];
  usage: { inputTokens: number };
}

/** The bot's model layer (its router: fallbacks, retries and cooldowns apply). */
export interface ModelsApi {
  generate(request: ModelRequest): Promise<ModelResult>;
  stream(request: ModelRequest): AsyncIterable<ModelStreamPart>;
  embed(values: string[], options?: { signal?: AbortSignal }): Promise<EmbeddingsResult>;
}

/**
 * What Pincer itself offers every plugin. Each method is one entry of the host's method
 * table (src/plugins/host-api.ts); the thread protocol's method names are derived from here.
 */
export interface PincerApi {
  readonly version: string;
  readonly botName: string;
  readonly startedAt: number;
  stats(): Promise<QueueStatsView>;
  commands(): Promise<CommandInfo[]>;
  /** Commit a message to the durable queue; resolves after the commit. */
  enqueue(message: EnqueueInput): Promise<EnqueuedMessage>;
  readonly models: ModelsApi;
}

export interface PluginLogger {
  debug(msg: string, fields?: JsonObject): void;
  info(msg: string, fields?: JsonObject): void;
  warn(msg: string, fields?: JsonObject): void;
  error(msg: string, fields?: JsonObject): void;
}

export interface PluginContext<Config = JsonObject> {
  /** The name this plugin is registered under (the key in its manifest's `plugins`). */
  readonly name: string;
  /** config.json defaults, merged with the user's config file and environment, validated. */
  readonly config: Readonly<Config>;
  readonly log: PluginLogger;
  readonly pincer: PincerApi;
  analyzer(spec: AnalyzerSpec): Disposer;
  responder(spec: ResponderSpec): Disposer;
  command(spec: CommandSpec): Disposer;
  hooks(spec: HooksSpec): Disposer;
  route(spec: RouteSpec): Disposer;
  /** A tool the bot's model may call; names are unique across plugins. */
  tool(spec: ToolSpec): Disposer;
  /** A chat platform: its transports, rendering and sends. Ids are unique across plugins. */
  channel(spec: ChannelSpec): Disposer;
  /** Offer a service under a name declared in `provides`. Methods take and return cloneable data. */
  provide(service: string, implementation: object): Disposer;
  /** A service declared in `inject`; the plugin starts only once every injected service is up. */
  service<T extends object>(name: string): RemoteService<T>;
  /**
   * Report that the plugin runs but cannot do its job (a missing system package, say); shown
   * by `pincer plugin list` and the admin API. Call with 'ok' when it recovers.
   */
  status(state: 'ok' | 'unavailable', detail?: string): void;
  /** Run on unload, after every registration is removed (close files, stop timers). */
  onDispose(fn: () => Awaitable<void>): Disposer;
}

export interface PluginDefinition<Config = JsonObject> {
  /**
   * Services this plugin needs from other plugins; it waits until all are provided. The
   * manifest (`pincer.plugins.<name>.inject`) is what Pincer acts on; a copy here must match it.
   */
  readonly inject?: readonly string[];
  /** Services this plugin provides with `ctx.provide`; as `inject`, checked against the manifest. */
  readonly provides?: readonly string[];
  setup(ctx: PluginContext<Config>): Awaitable<void>;
}

/** Type helper for a plugin's export; returns its argument unchanged. */
export function definePlugin<Config = JsonObject>(definition: PluginDefinition<Config>): PluginDefinition<Config> {
  return definition;
}
