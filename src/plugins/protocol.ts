import type { ChannelCapabilities, ChannelErrorClass, HttpMethod, JsonObject, JsonValue, PincerApi } from './sdk.js';

/**
 * Messages between Pincer (the host) and one plugin thread. Everything is structured-clone
 * data; functions stay on the side that owns them and are named by a numeric `handle`.
 */

/** What a plugin registered, as data the host can act on. */
export type RegistrationSpec =
  | { kind: 'analyzer'; name: string }
  | { kind: 'responder'; name: string; order: number }
  | { kind: 'command'; name: string; description: string; usage?: string }
  | { kind: 'hooks'; name: string; before: boolean; after: boolean }
  | { kind: 'route'; method: HttpMethod; path: string }
  | { kind: 'service'; name: string; methods: string[] }
  | { kind: 'tool'; name: string; description: string; parameters: JsonObject; effect: 'read' | 'write'; idempotent: boolean; approval: 'always' | 'never'; timeoutMs?: number; examples?: string[] }
  | { kind: 'channel'; name: string; capabilities: ChannelCapabilities; methods: ChannelMethod[] };

/** What a channel's poll loop asks of the host: `[session, events, cursor?]`, `[session, detail, hint]`, `[session]`. */
export type ChannelHostMethod = 'ingest' | 'fatal' | 'cursor';

/** How one platform call (send, edit, typing) ended, as the host's delivery worker reads it. */
export type CallOutcome =
  | { ok: true; platformMessageId?: string }
  | { ok: false; errorClass: ChannelErrorClass; message: string; retryAfterMs?: number };

/** The optional parts of a ChannelSpec a plugin implemented (plan and send always exist). */
export type ChannelMethod = 'poll' | 'webhook' | 'connect' | 'edit' | 'typing' | 'reconcile';

/** What the host asks a registration to do; a `channel` call names its method (plan, send, poll, ...). */
export type InvokeKind = 'analyze' | 'respond' | 'command' | 'before' | 'after' | 'route' | 'service' | 'tool' | 'channel';

type Callable = (...args: never[]) => unknown;

/** Every callable path of an API object: "stats", "enqueue", "models.generate", ... */
type MethodPaths<T, Prefix extends string = ''> = {
  [K in keyof T & string]: T[K] extends Callable ? `${Prefix}${K}` : T[K] extends object ? MethodPaths<T[K], `${Prefix}${K}.`> : never;
}[keyof T & string];

/** The function at a dotted path of T. */
export type MethodAt<T, Path extends string> = Path extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? MethodAt<T[Head], Rest>
    : never
  : Path extends keyof T
    ? Extract<T[Path], Callable>
    : never;

/** The methods a plugin thread may call on the host, derived from the SDK's PincerApi. */
export type HostMethod = MethodPaths<PincerApi>;

export interface SerializedError {
  code?: string;
  /** The HTTP status a coded host error carries (a 400 for bad input, say). */
  status?: number;
  name: string;
  message: string;
  stack?: string;
}

/** Sent once as the worker's `workerData`. */
export interface ThreadData {
  plugin: string;
  /** file: URL of the module to import. */
  moduleUrl: string;
  exportName: string;
  config: JsonObject;
  pincer: { version: string; botName: string; startedAt: number };
  /** From the manifest: what ctx.service and ctx.provide accept. */
  inject: string[];
  provides: string[];
}

export type HostToThread =
  | { type: 'setup' }
  | { type: 'invoke'; id: number; handle: number; kind: InvokeKind; input: JsonValue; method?: string }
  | { type: 'abort'; id: number; reason: string }
  /** One part of a streamed host call's answer, before its final reply. */
  | { type: 'call-part'; id: number; part: JsonValue }
  | { type: 'reply'; id: number; ok: true; value: JsonValue | undefined }
  | { type: 'reply'; id: number; ok: false; error: SerializedError }
  | { type: 'dispose' };

export type ThreadToHost =
  /** The module loaded and exported a definition; setup has not run yet. Lists it declares in code, if any. */
  | { type: 'loaded'; inject?: string[]; provides?: string[] }
  | { type: 'ready' }
  | { type: 'failed'; stage: 'load' | 'setup'; error: SerializedError }
  | { type: 'register'; handle: number; spec: RegistrationSpec }
  | { type: 'unregister'; handle: number }
  | { type: 'result'; id: number; ok: true; value: JsonValue | undefined }
  | { type: 'result'; id: number; ok: false; error: SerializedError }
  | { type: 'stream'; id: number; delta: string }
  | { type: 'call'; id: number; target: 'pincer'; method: HostMethod; args: JsonValue[] }
  | { type: 'call'; id: number; target: 'service'; service: string; method: string; args: JsonValue[] }
  /** A channel's poll loop reporting to the host: `[session, events]` or `[session, detail, hint]`. */
  | { type: 'call'; id: number; target: 'channel'; method: ChannelHostMethod; args: JsonValue[] }
  /** The plugin no longer wants the answer of a call it made (it stopped reading a stream, its signal fired). */
  | { type: 'call-abort'; id: number }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: JsonObject }
  | { type: 'status'; state: 'ok' | 'unavailable'; detail?: string }
  | { type: 'disposed' };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
    return {
      name: err.name,
      message: err.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof statusCode === 'number' ? { status: statusCode } : {}),
      ...(err.stack ? { stack: err.stack } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}
