import { PincerError } from '../errors.js';
import { isJsonObject } from '../json.js';
import type { CommandInfo, EmbeddingsResult, EnqueuedMessage, EnqueueInput, JsonObject, JsonValue, ModelRequest, ModelResult, ModelStreamPart, PincerApi, QueueStatsView } from './sdk.js';
import type { ChannelHostMethod, HostMethod, MethodAt } from './protocol.js';
import type { HostCallIo } from './plugin-thread.js';

/**
 * The table of what a plugin can ask of Pincer (`ctx.pincer.*`). Its keys are derived from the
 * SDK's PincerApi, so adding a method there fails to compile until it has an entry here; a
 * name not in the table is refused with a code, never answered by some other method.
 */

export type HostModelRequest = Omit<ModelRequest, 'signal'> & { signal: AbortSignal };

export interface HostEnqueueRequest {
  text: string;
  conversationId: string;
  sender?: string;
  channel: string;
  priority: 'high' | 'normal' | 'low';
  metadata?: JsonObject;
  idempotencyKey?: string;
}

/** What the rest of Pincer lends the plugin host (injected, so plugins/ imports no queue or model code). */
export interface PluginHostServices {
  stats(): Promise<QueueStatsView>;
  /** Resolves after the commit. */
  enqueue(request: HostEnqueueRequest): Promise<EnqueuedMessage>;
  models: {
    generate(request: HostModelRequest): Promise<ModelResult>;
    stream(request: HostModelRequest): AsyncIterable<ModelStreamPart>;
    embed(request: { values: string[]; signal: AbortSignal }): Promise<EmbeddingsResult>;
  };
  /** A channel plugin's poll loop reporting (ingest resolves after the commit). */
  channels: { call(plugin: string, method: ChannelHostMethod, args: JsonValue[]): Promise<JsonValue | undefined> };
}

export interface HostLimits {
  maxTextLength: number;
  maxMetadataDepth: number;
  maxMetadataBytes: number;
}

type Returned<M extends HostMethod> = ReturnType<MethodAt<PincerApi, M>>;
/** A streamed method answers its parts through `io.part`, and its last part as the result. */
type Answer<M extends HostMethod> = Returned<M> extends AsyncIterable<infer Part> ? Part : Awaited<Returned<M>>;
type Handler<M extends HostMethod> = (args: JsonValue[], io: HostCallIo) => Promise<Answer<M>>;
export type HostMethodTable = { readonly [M in HostMethod]: Handler<M> };

export function hostMethods(host: PluginHostServices, commands: () => CommandInfo[], limits: HostLimits): HostMethodTable {
  return {
    stats: () => host.stats(),
    commands: async () => commands(),
    enqueue: (args) => host.enqueue(enqueueRequest(args[0], limits)),
    'models.generate': (args, io) => host.models.generate({ ...modelRequest(args[0]), signal: io.signal }),
    'models.stream': async (args, io) => {
      for await (const part of host.models.stream({ ...modelRequest(args[0]), signal: io.signal })) {
        if (part.type === 'finish') return part;
        io.part(part as unknown as JsonValue);
      }
      throw new PincerError('PLUGIN_MODEL_STREAM_INCOMPLETE', 'the model stream ended without a finish part');
    },
    'models.embed': (args, io) => host.models.embed({ values: embedValues(args[0]), signal: io.signal }),
  };
}

/** Dispatch one call from a plugin thread through the table. */
export async function callHostMethod(table: HostMethodTable, method: string, args: JsonValue[], io: HostCallIo): Promise<JsonValue | undefined> {
  if (!Object.hasOwn(table, method)) {
    throw new PincerError('PLUGIN_HOST_METHOD_UNKNOWN', `Pincer has no host method "${method}" (it offers ${Object.keys(table).join(', ')}); is the plugin built for a newer Pincer?`);
  }
  const handler = table[method as HostMethod] as (args: JsonValue[], io: HostCallIo) => Promise<unknown>;
  return (await handler(args, io)) as JsonValue | undefined;
}

// ---- input checks: a plugin's data is checked like an HTTP client's ---------------------

/** The HTTP API's patterns (server/schemas.ts), so a plugin can queue nothing a client could not. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const CHANNEL = /^[a-z][a-z0-9_-]{0,31}$/;
const PRIORITIES: ReadonlySet<string> = new Set(['high', 'normal', 'low']);
const ENQUEUE_KEYS: ReadonlySet<string> = new Set(['text', 'conversationId', 'sender', 'channel', 'priority', 'metadata', 'idempotencyKey']);
const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);

function invalid(code: 'PLUGIN_ENQUEUE_INVALID' | 'PLUGIN_MODEL_REQUEST_INVALID', field: string, problem: string): never {
  throw new PincerError(code, `${field}: ${problem}`, { field });
}


function enqueueRequest(value: JsonValue | undefined, limits: HostLimits): HostEnqueueRequest {
  const bad = (field: string, problem: string) => invalid('PLUGIN_ENQUEUE_INVALID', field, problem);
  if (!isJsonObject(value)) return bad('message', 'must be an object with text and conversationId');
  const input = value as Partial<Record<keyof EnqueueInput, unknown>>;
  for (const key of Object.keys(value)) if (!ENQUEUE_KEYS.has(key)) bad(key, `unknown field (expected ${[...ENQUEUE_KEYS].join(', ')})`);
  const { text, conversationId, sender, channel, priority, metadata, idempotencyKey } = input;
  if (typeof text !== 'string' || text.length === 0 || text.length > limits.maxTextLength) bad('text', `must be a string of 1 to ${limits.maxTextLength} characters`);
  if (typeof conversationId !== 'string' || !ID.test(conversationId)) bad('conversationId', `must match ${ID.source}`);
  if (sender !== undefined && (typeof sender !== 'string' || sender.length === 0 || sender.length > 256)) bad('sender', 'must be a string of 1 to 256 characters');
  if (channel !== undefined && (typeof channel !== 'string' || !CHANNEL.test(channel))) bad('channel', `must match ${CHANNEL.source}`);
  if (priority !== undefined && (typeof priority !== 'string' || !PRIORITIES.has(priority))) bad('priority', 'must be high, normal or low');
  if (idempotencyKey !== undefined && (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0 || idempotencyKey.length > 255)) bad('idempotencyKey', 'must be a string of 1 to 255 characters');
  if (metadata !== undefined) checkMetadata(metadata, limits);
  return {
    text: text as string,
    conversationId: conversationId as string,
    channel: (channel as string | undefined) ?? 'plugin',
    priority: (priority as HostEnqueueRequest['priority'] | undefined) ?? 'normal',
    ...(sender !== undefined ? { sender: sender as string } : {}),
    ...(metadata !== undefined ? { metadata: metadata as JsonObject } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey: idempotencyKey as string } : {}),
  };
}

/** JSON data only (structured clone also carries Dates, Maps, NaN), within the store's bounds. */
function checkMetadata(metadata: unknown, limits: HostLimits): void {
  const bad = (problem: string) => invalid('PLUGIN_ENQUEUE_INVALID', 'metadata', problem);
  if (!isJsonObject(metadata)) bad('must be an object');
  const walk = (value: unknown, depth: number): void => {
    if (depth > limits.maxMetadataDepth) bad(`nests deeper than ${limits.maxMetadataDepth} levels`);
    if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) bad('holds a number JSON cannot carry');
      return;
    }
    if (Array.isArray(value)) return value.forEach((v) => walk(v, depth + 1));
    if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).forEach((v) => walk(v, depth + 1));
    bad(`holds a ${Object.prototype.toString.call(value).slice(8, -1)}, which is not JSON`);
  };
  walk(metadata, 1);
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > limits.maxMetadataBytes) bad(`is ${bytes} bytes as JSON, more than ${limits.maxMetadataBytes}`);
}

function modelRequest(value: JsonValue | undefined): Omit<ModelRequest, 'signal'> {
  const bad = (field: string, problem: string) => invalid('PLUGIN_MODEL_REQUEST_INVALID', field, problem);
  if (!isJsonObject(value)) return bad('request', 'must be an object with messages');
  const messages = value.messages;
  if (!Array.isArray(messages) || messages.length === 0) return bad('messages', 'must be a non-empty list');
  messages.forEach((m: unknown, i) => {
    if (!isJsonObject(m) || typeof m.role !== 'string' || !ROLES.has(m.role) || typeof m.content !== 'string') bad(`messages[${i}]`, 'must be {role: system|user|assistant|tool, content: string}');
  });
  for (const key of ['maxTokens', 'temperature'] as const) {
    if (value[key] !== undefined && (typeof value[key] !== 'number' || !Number.isFinite(value[key]))) bad(key, 'must be a number');
  }
  return value as unknown as Omit<ModelRequest, 'signal'>;
}

function embedValues(value: JsonValue | undefined): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string')) invalid('PLUGIN_MODEL_REQUEST_INVALID', 'values', 'must be a non-empty list of strings');
  return value as string[];
}
