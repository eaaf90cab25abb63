import { PincerError } from '../errors.js';
import type { PipelineRegistry } from '../pipeline/registry.js';
import type { Command, Disposer, ResponderReply, StageContext } from '../pipeline/types.js';
import { isJsonObject } from '../json.js';
import type { JsonObject, JsonValue, MessageRecord } from '../store/types.js';
import type { FailurePolicy } from './failure-policy.js';
import type { Generation } from './generation.js';
import type { InvokeKind, RegistrationSpec } from './protocol.js';
import type { ChannelAccount, ChannelTarget, PluginMessage, RenderedPart } from './sdk.js';
import type { ServiceTable } from './services.js';
import type { PluginSlot } from './slot.js';

export interface AttachContext {
  registry: PipelineRegistry;
  services: ServiceTable;
  policy: FailurePolicy;
  /** Budget of calls outside the pipeline (routes, tools, channel sends), which has its own. */
  callTimeout(): number;
}

interface CallOptions {
  method?: string;
  onStream?: (delta: string) => void;
  timeoutMs?: number;
}

/**
 * Make one registration visible: each spec becomes a core object (pipeline stage, route,
 * service, tool, channel) whose calls go to the plugin thread. The returned disposer undoes
 * exactly that.
 */
export function attachRegistration(ctx: AttachContext, slot: PluginSlot, generation: Generation, handle: number, spec: RegistrationSpec): Disposer {
  const thread = generation.thread;
  const call = (kind: InvokeKind, input: JsonValue, signal: AbortSignal | undefined, extra: CallOptions = {}) =>
    ctx.policy.tracked(slot, generation, kind, () => thread.invoke(handle, kind, input, { signal, ...extra }));
  const held = <T>(run: () => Promise<T>): Promise<T> => generation.hold(run);
  const owner = generation;
  const plugin = slot.name;
  switch (spec.kind) {
    case 'analyzer':
      return ctx.registry.addAnalyzer({ name: spec.name, plugin, analyze: (c) => call('analyze', stageInput(c), c.signal) }, owner);
    case 'responder':
      return ctx.registry.addResponder(
        {
          name: spec.name,
          plugin,
          order: spec.order,
          respond: async (c) => {
            const value = await call('respond', stageInput(c), c.signal, { onStream: c.stream });
            return value === undefined || value === null ? undefined : toReply(plugin, `responder ${spec.name}`, value);
          },
        },
        owner,
      );
    case 'command': {
      const command: Command = {
        name: spec.name,
        plugin,
        description: spec.description,
        ...(spec.usage ? { usage: spec.usage } : {}),
        run: async (c) => {
          const value = await call('command', { ...stageInput(c), args: c.args }, c.signal);
          return typeof value === 'string' ? value : toReply(plugin, `command /${spec.name}`, value);
        },
      };
      return ctx.registry.addCommand(command, owner);
    }
    case 'hooks':
      return ctx.registry.addHooks(
        {
          name: spec.name,
          plugin,
          ...(spec.before ? { before: async (c: StageContext) => void (await call('before', stageInput(c), c.signal, { method: 'before' })) } : {}),
          ...(spec.after ? { after: async (c: StageContext, reply) => void (await call('after', { ...stageInput(c), reply: { ...reply } as JsonObject }, c.signal, { method: 'after' })) } : {}),
        },
        owner,
      );
    case 'route':
      return slot.routes.add(spec.method, spec.path, {
        invoke: (request) => held(() => call('route', request as unknown as JsonValue, undefined, { timeoutMs: ctx.callTimeout() })),
      });
    case 'service':
      return ctx.services.provide(spec.name, { plugin, generation, handle, methods: spec.methods });
    case 'tool':
      return ctx.registry.addTool(
        {
          name: spec.name,
          plugin,
          description: spec.description,
          parameters: spec.parameters,
          effect: spec.effect,
          idempotent: spec.idempotent,
          approval: spec.approval,
          ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
          ...(spec.examples !== undefined ? { examples: spec.examples } : {}),
          execute: (args, t) => {
            const { signal, ...about } = t;
            const input: JsonObject = { args, ...(Object.fromEntries(Object.entries(about).filter(([, v]) => v !== undefined)) as JsonObject) };
            // The loop applies the tool's own timeout; the host's call limit must not cut it first.
            return held(async () => (await call('tool', input, signal, { timeoutMs: Math.max(ctx.callTimeout(), spec.timeoutMs ?? 0) })) ?? null);
          },
        },
        owner,
      );
    case 'channel': {
      const channelCall = <T>(method: string, input: JsonObject, signal: AbortSignal | undefined, timeoutMs: number | undefined) =>
        held(async () => (await call('channel', input, signal, { method, ...(timeoutMs !== undefined ? { timeoutMs } : {}) })) as T);
      const account = (a: ChannelAccount) => ({ id: a.id, config: a.config }) as unknown as JsonObject;
      const target = (t: ChannelTarget) => t as unknown as JsonObject;
      const part = (p: RenderedPart) => p as unknown as JsonObject;
      return ctx.registry.addChannel(
        {
          name: spec.name,
          plugin,
          capabilities: spec.capabilities,
          methods: new Set(spec.methods),
          plan: (markdown, t, a, extras) =>
            channelCall('plan', { markdown, target: target(t), account: account(a), ...(extras?.buttons ? { buttons: extras.buttons as unknown as JsonObject[] } : {}) }, undefined, ctx.callTimeout()),
          send: (p, t, a, signal) => channelCall('send', { part: part(p), target: target(t), account: account(a) }, signal, ctx.callTimeout()),
          edit: (id, p, t, a, signal) => channelCall('edit', { platformMessageId: id, part: part(p), target: target(t), account: account(a) }, signal, ctx.callTimeout()),
          typing: (t, a, state, signal) => channelCall('typing', { target: target(t), account: account(a), state }, signal, ctx.callTimeout()),
          reconcile: (p, t, a, signal) => channelCall('reconcile', { part: part(p), target: target(t), account: account(a) }, signal, ctx.callTimeout()),
          webhook: (request, a) => channelCall('webhook', { request: request as unknown as JsonObject, account: account(a) }, undefined, ctx.callTimeout()),
          connect: (a, signal) => channelCall('connect', { account: account(a) }, signal, ctx.callTimeout()),
          // The loop runs as long as the transport does: no time budget, only its signal, and it
          // does not hold its generation (core stops it when the channel is replaced).
          poll: async (a, session, signal) => void (await call('channel', { account: account(a), session }, signal, { method: 'poll' })),
        },
        owner,
      );
    }
  }
}

function pluginMessage(message: Readonly<MessageRecord>): PluginMessage {
  return {
    id: message.id,
    conversationId: message.conversationId,
    text: message.text,
    sender: message.sender,
    channel: message.channel,
    priority: message.priority,
    metadata: message.metadata,
    attempts: message.attempts,
  };
}

function stageInput(ctx: StageContext): JsonObject {
  return { message: pluginMessage(ctx.message) as unknown as JsonObject, analysis: ctx.analysis };
}

function toReply(plugin: string, what: string, value: JsonValue | undefined): ResponderReply {
  const reply = value as { text?: unknown; data?: unknown } | null;
  if (!reply || typeof reply !== 'object' || typeof reply.text !== 'string') {
    throw new PincerError('PLUGIN_BAD_REPLY', `plugin ${plugin}: ${what} returned ${JSON.stringify(value)?.slice(0, 100)}, expected a string or {text, data?}`);
  }
  const data = isJsonObject(reply.data) ? reply.data : undefined;
  return { text: reply.text, ...(data ? { data } : {}) };
}
