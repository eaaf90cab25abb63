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

/** What a tool call carries besides its arguments (later: the message and attempt it serves). */
export interface ToolInvocation {
  readonly signal: AbortSignal;
  readonly messageId?: string;
  readonly attempt?: number;
  readonly toolCallId?: string;
}

/** A function the bot's model may call (the tool loop arrives in a later release). */
export interface ToolSpec {
  /** Letters, digits, "_" and "-", at most 64: what model vendors accept. */
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: JsonObject;
  /** "read" tools have no side effects; "write" tools change something outside the bot. */
  effect: 'read' | 'write';
  execute(args: JsonObject, t: ToolInvocation): Awaitable<JsonValue>;
}

/** One reply to send out through a channel (a chat platform). */
export interface ChannelDelivery {
  readonly id: string;
  readonly messageId: string;
  readonly conversationId: string;
  readonly text: string;
  readonly data?: JsonObject;
  readonly metadata: JsonObject | null;
}

export interface ChannelSendResult {
  /** The platform's id for what was sent, if it has one. */
  platformMessageId?: string;
}

export interface ChannelCapabilities {
  /** A sent message can be edited (stream a reply into it). */
  edit?: boolean;
  /** A "typing" indicator can be shown. */
  typing?: boolean;
  markdown?: boolean;
}

/** Outbound side of a chat platform: the delivery pool (a later release) calls `send`. */
export interface ChannelSpec {
  /** The `channel` of the messages this plugin answers: "telegram". */
  name: string;
  /** What the platform can do with a sent reply; all false when absent. */
  capabilities?: ChannelCapabilities;
  send(delivery: ChannelDelivery, t: { readonly signal: AbortSignal }): Awaitable<ChannelSendResult | void>;
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
  /** The sender for one channel's replies; names are unique across plugins. */
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
