import type { HttpMethod, JsonObject, JsonValue } from './sdk.js';

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
  | { kind: 'service'; name: string; methods: string[] };

/** What the host asks a registration to do. */
export type InvokeKind = 'analyze' | 'respond' | 'command' | 'before' | 'after' | 'route' | 'service';

export interface SerializedError {
  code?: string;
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
}

export type HostToThread =
  | { type: 'setup' }
  | { type: 'invoke'; id: number; handle: number; kind: InvokeKind; input: JsonValue; method?: string }
  | { type: 'abort'; id: number; reason: string }
  | { type: 'reply'; id: number; ok: true; value: JsonValue | undefined }
  | { type: 'reply'; id: number; ok: false; error: SerializedError }
  | { type: 'dispose' };

export type ThreadToHost =
  /** The module loaded and exported a definition; setup has not run yet. */
  | { type: 'loaded'; inject: string[]; provides: string[] }
  | { type: 'ready' }
  | { type: 'failed'; stage: 'load' | 'setup'; error: SerializedError }
  | { type: 'register'; handle: number; spec: RegistrationSpec }
  | { type: 'unregister'; handle: number }
  | { type: 'result'; id: number; ok: true; value: JsonValue | undefined }
  | { type: 'result'; id: number; ok: false; error: SerializedError }
  | { type: 'stream'; id: number; delta: string }
  | { type: 'call'; id: number; target: 'pincer'; method: 'stats' | 'commands'; args: JsonValue[] }
  | { type: 'call'; id: number; target: 'service'; service: string; method: string; args: JsonValue[] }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: JsonObject }
  | { type: 'status'; state: 'ok' | 'unavailable'; detail?: string }
  | { type: 'disposed' };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}), ...(err.stack ? { stack: err.stack } : {}) };
  }
  return { name: 'Error', message: String(err) };
}
