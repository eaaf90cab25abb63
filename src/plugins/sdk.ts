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

/** What Pincer itself offers every plugin. */
export interface PincerApi {
  readonly version: string;
  readonly botName: string;
  readonly startedAt: number;
  stats(): Promise<QueueStatsView>;
  commands(): Promise<CommandInfo[]>;
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
  /** Services this plugin needs from other plugins; it waits until all are provided. */
  readonly inject?: readonly string[];
  /** Services this plugin provides with `ctx.provide`. */
  readonly provides?: readonly string[];
  setup(ctx: PluginContext<Config>): Awaitable<void>;
}

/** Type helper for a plugin's export; returns its argument unchanged. */
export function definePlugin<Config = JsonObject>(definition: PluginDefinition<Config>): PluginDefinition<Config> {
  return definition;
}
