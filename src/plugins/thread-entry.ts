/**
 * The main module of a plugin thread: one per plugin generation. It imports the plugin,
 * runs its setup with a context whose registrations become messages to the host, and then
 * serves the host's calls. Terminating the thread frees the plugin's modules, which is why
 * reloading never leaks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError, type HostMethod, type HostToThread, type InvokeKind, type RegistrationSpec, type ThreadData, type ThreadToHost } from './protocol.js';
import { channelHandler } from './thread-channel.js';
import type { CommandInput, Disposer, JsonObject, JsonValue, ModelRequest, ModelStreamPart, PincerApi, PluginContext, PluginDefinition, RespondInput, RouteRequest, StageInput, ToolInvocation } from './sdk.js';
import { HostCalls, RemoteError } from './thread-calls.js';

const port = parentPort;
if (!port) throw new Error('thread-entry.js runs only as a plugin worker thread');
const data = workerData as ThreadData;

type Handler = (input: JsonValue, signal: AbortSignal, id: number, method?: string) => unknown;

const handlers = new Map<number, Handler>();
const disposers = new Map<number, Disposer>();
const disposeCallbacks: Array<() => unknown> = [];
const running = new Map<number, AbortController>();
let nextHandle = 1;
let definition: PluginDefinition | undefined;

function send(message: ThreadToHost): void {
  port?.postMessage(message);
}

const host = new HostCalls(send);

/** A model request without its signal (which stays in this thread), as cloneable data. */
function wireRequest(request: ModelRequest): JsonValue {
  const { signal: _signal, ...rest } = request;
  return rest as unknown as JsonValue;
}

/** Pincer's API as the plugin sees it: each method is one call into the host's method table. */
function pincerApi(): PincerApi {
  const call = (method: HostMethod, args: JsonValue[], signal?: AbortSignal) => host.call({ target: 'pincer', method }, args, signal) as never;
  return {
    ...data.pincer,
    stats: () => call('stats', []),
    commands: () => call('commands', []),
    enqueue: (message) => call('enqueue', [message as unknown as JsonValue]),
    models: {
      generate: (request) => call('models.generate', [wireRequest(request)], request.signal),
      stream: (request) => host.stream('models.stream', [wireRequest(request)], request.signal) as AsyncIterable<unknown> as AsyncIterable<ModelStreamPart>,
      embed: (values, options) => call('models.embed', [values], options?.signal),
    },
  };
}

function register(spec: RegistrationSpec, handler: Handler): Disposer {
  const handle = nextHandle++;
  handlers.set(handle, handler);
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    handlers.delete(handle);
    disposers.delete(handle);
    send({ type: 'unregister', handle });
  };
  disposers.set(handle, dispose);
  send({ type: 'register', handle, spec });
  return dispose;
}

function stageInput(input: JsonValue, signal: AbortSignal): StageInput {
  const { message, analysis } = input as unknown as Pick<StageInput, 'message' | 'analysis'>;
  return { message, analysis, signal };
}

function requireName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError(`${kind} needs a non-empty string name`);
  return name;
}

function methodNames(implementation: object): string[] {
  const names = new Set<string>();
  for (let obj: object | null = implementation; obj && obj !== Object.prototype; obj = Object.getPrototypeOf(obj) as object | null) {
    for (const key of Object.getOwnPropertyNames(obj)) {
      if (key !== 'constructor' && typeof (implementation as Record<string, unknown>)[key] === 'function') names.add(key);
    }
  }
  return [...names];
}

function buildContext(): PluginContext {
  const provides = new Set(data.provides);
  const inject = new Set(data.inject);
  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: JsonObject) => send({ type: 'log', level, msg: String(msg), ...(fields ? { fields } : {}) });
  return {
    name: data.plugin,
    config: data.config,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    pincer: pincerApi(),
    analyzer(spec) {
      const name = requireName('an analyzer', spec.name);
      return register({ kind: 'analyzer', name }, (input, signal) => spec.analyze(stageInput(input, signal)));
    },
    responder(spec) {
      const name = requireName('a responder', spec.name);
      return register({ kind: 'responder', name, order: spec.order ?? 100 }, (input, signal, id) => {
        const ctx: RespondInput = { ...stageInput(input, signal), stream: (delta) => send({ type: 'stream', id, delta: String(delta) }) };
        return spec.respond(ctx);
      });
    },
    command(spec) {
      const name = requireName('a command', spec.name);
      return register({ kind: 'command', name, description: String(spec.description ?? ''), ...(spec.usage ? { usage: spec.usage } : {}) }, (input, signal) => {
        const ctx: CommandInput = { ...stageInput(input, signal), args: (input as { args: string }).args };
        return spec.run(ctx);
      });
    },
    hooks(spec) {
      const name = spec.name ?? data.plugin;
      return register({ kind: 'hooks', name, before: typeof spec.before === 'function', after: typeof spec.after === 'function' }, (input, signal, _id, method) => {
        if (method === 'after') return spec.after?.({ ...stageInput(input, signal), reply: (input as { reply: never }).reply });
        return spec.before?.(stageInput(input, signal));
      });
    },
    route(spec) {
      const path = requireName('a route', spec.path);
      if (!path.startsWith('/')) throw new TypeError(`route path "${path}" must start with "/"`);
      return register({ kind: 'route', method: spec.method, path }, (input) => spec.handler(input as unknown as RouteRequest));
    },
    tool(spec) {
      const name = requireName('a tool', spec.name);
      if (spec.effect !== 'read' && spec.effect !== 'write') throw new TypeError(`tool "${name}" needs effect "read" or "write"`);
      if (!spec.parameters || typeof spec.parameters !== 'object' || Array.isArray(spec.parameters)) throw new TypeError(`tool "${name}" needs parameters: a JSON Schema object`);
      if (spec.timeout !== undefined && (typeof spec.timeout !== 'number' || !Number.isInteger(spec.timeout) || spec.timeout < 1 || spec.timeout > 600_000)) {
        throw new TypeError(`tool "${name}" timeout must be a whole number of milliseconds from 1 to 600000`);
      }
      if (spec.approval !== undefined && spec.approval !== 'always' && spec.approval !== 'never') throw new TypeError(`tool "${name}" approval must be "always" or "never"`);
      const registration = {
        kind: 'tool' as const,
        name,
        description: String(spec.description ?? ''),
        parameters: spec.parameters,
        effect: spec.effect,
        idempotent: spec.idempotent === true,
        approval: spec.approval ?? 'never',
        ...(spec.timeout !== undefined ? { timeoutMs: spec.timeout } : {}),
        ...examplesOf(name, spec.examples),
      };
      return register(registration, (input, signal) => {
        const { args, ...rest } = input as { args: JsonObject } & Omit<ToolInvocation, 'signal'>;
        return spec.execute(args, { ...rest, signal });
      });
    },
    channel(spec) {
      const { registration, handler } = channelHandler(spec, host);
      return register(registration, handler);
    },
    provide(service, implementation) {
      if (!provides.has(service)) throw new TypeError(`service "${service}" is not declared in this plugin's manifest (pincer.plugins.${data.plugin}.provides)`);
      const methods = methodNames(implementation);
      return register({ kind: 'service', name: service, methods }, (input, _signal, _id, method) => {
        const fn = method === undefined ? undefined : (implementation as Record<string, unknown>)[method];
        if (typeof fn !== 'function') throw new TypeError(`service "${service}" has no method "${String(method)}"`);
        return (fn as (...args: JsonValue[]) => unknown).apply(implementation, input as JsonValue[]);
      });
    },
    service<T extends object>(name: string) {
      if (!inject.has(name)) throw new TypeError(`service "${name}" is not declared in this plugin's manifest (pincer.plugins.${data.plugin}.inject)`);
      return new Proxy({} as T, {
        get: (_target, method) =>
          typeof method === 'string' && method !== 'then' ? (...args: JsonValue[]) => host.call({ target: 'service', service: name, method }, args) : undefined,
      }) as never;
    },
    status(state, detail) {
      send({ type: 'status', state, ...(detail ? { detail } : {}) });
    },
    onDispose(fn) {
      disposeCallbacks.push(fn);
      return () => {
        const index = disposeCallbacks.indexOf(fn);
        if (index >= 0) disposeCallbacks.splice(index, 1);
      };
    },
  };
}

async function disposeAll(): Promise<void> {
  for (const dispose of [...disposers.values()].reverse()) dispose();
  for (const fn of disposeCallbacks.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      send({ type: 'log', level: 'error', msg: `onDispose callback failed: ${serializeError(err).message}` });
    }
  }
}

async function invoke(id: number, handle: number, kind: InvokeKind, input: JsonValue, method: string | undefined): Promise<void> {
  const handler = handlers.get(handle);
  const controller = new AbortController();
  running.set(id, controller);
  try {
    if (!handler) throw new RemoteError('PLUGIN_HANDLER_GONE', `this ${kind} handler was disposed`);
    const value = await host.within(controller.signal, () => handler(input, controller.signal, id, method));
    send({ type: 'result', id, ok: true, value: value as JsonValue | undefined });
  } catch (err) {
    send({ type: 'result', id, ok: false, error: serializeError(err) });
  } finally {
    running.delete(id);
  }
}

async function setup(): Promise<void> {
  if (!definition) return;
  try {
    await definition.setup(buildContext());
    send({ type: 'ready' });
  } catch (err) {
    await disposeAll();
    send({ type: 'failed', stage: 'setup', error: serializeError(err) });
  }
}

port.on('message', (message: HostToThread) => {
  switch (message.type) {
    case 'setup':
      void setup();
      break;
    case 'invoke':
      void invoke(message.id, message.handle, message.kind, message.input, message.method);
      break;
    case 'abort':
      running.get(message.id)?.abort(new RemoteError('PLUGIN_CALL_ABORTED', message.reason));
      break;
    case 'call-part':
      host.onPart(message.id, message.part);
      break;
    case 'reply':
      host.onReply(message.id, message.ok ? message : { ok: false, message: message.error.message, ...(message.error.code ? { code: message.error.code } : {}), ...(message.error.status ? { status: message.error.status } : {}) });
      break;
    case 'dispose':
      void disposeAll().then(() => send({ type: 'disposed' }));
      break;
  }
});

try {
  const mod = (await import(data.moduleUrl)) as Record<string, unknown>;
  const exported = mod[data.exportName];
  if (!exported || typeof exported !== 'object' || typeof (exported as PluginDefinition).setup !== 'function') {
    const found = Object.keys(mod).join(', ') || 'nothing';
    throw new RemoteError('PLUGIN_EXPORT_INVALID', `export "${data.exportName}" is not a plugin definition (an object with a setup function); the module exports: ${found}`);
  }
  definition = exported as PluginDefinition;
  const names = (value: unknown) => (Array.isArray(value) ? { list: value.map(String) } : undefined);
  const inject = names(definition.inject);
  const provides = names(definition.provides);
  send({ type: 'loaded', ...(inject ? { inject: inject.list } : {}), ...(provides ? { provides: provides.list } : {}) });
} catch (err) {
  send({ type: 'failed', stage: 'load', error: serializeError(err) });
}

/** A tool's examples as data for the host, which checks them against the schema (a coded error there). */
function examplesOf(tool: string, examples: unknown): { examples?: string[] } {
  if (examples === undefined) return {};
  if (!Array.isArray(examples) || examples.some((e) => typeof e !== 'string')) throw new RemoteError('PIPELINE_BAD_TOOL_EXAMPLES', `tool "${tool}": examples must be an array of strings`);
  return { examples: [...(examples as string[])] };
}
