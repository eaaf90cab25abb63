import { PincerError } from '../errors.js';
import type { PipelineRegistry } from '../pipeline/registry.js';
import type { Command, DeliveryReceipt, Disposer, ResponderReply, StageContext } from '../pipeline/types.js';
import { isJsonObject } from '../json.js';
import type { JsonObject, JsonValue, MessageRecord } from '../store/types.js';
import type { FailurePolicy } from './failure-policy.js';
import type { Generation } from './generation.js';
import type { InvokeKind, RegistrationSpec } from './protocol.js';
import type { PluginMessage } from './sdk.js';
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
          execute: (args, t) => {
            const input: JsonObject = { args, ...(t.messageId ? { messageId: t.messageId } : {}), ...(t.attempt ? { attempt: t.attempt } : {}), ...(t.toolCallId ? { toolCallId: t.toolCallId } : {}) };
            return held(async () => (await call('tool', input, t.signal, { timeoutMs: ctx.callTimeout() })) ?? null);
          },
        },
        owner,
      );
    case 'channel':
      return ctx.registry.addChannel(
        {
          name: spec.name,
          plugin,
          capabilities: spec.capabilities,
          send: (delivery, t) => held(async () => toReceipt(plugin, spec.name, await call('send', delivery as unknown as JsonObject, t.signal, { timeoutMs: ctx.callTimeout() }))),
        },
        owner,
      );
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

function toReceipt(plugin: string, channel: string, value: JsonValue | undefined): DeliveryReceipt {
  const receipt = value as { platformMessageId?: unknown } | null | undefined;
  if (receipt === undefined || receipt === null) return {};
  if (typeof receipt !== 'object' || Array.isArray(receipt) || (receipt.platformMessageId !== undefined && typeof receipt.platformMessageId !== 'string')) {
    throw new PincerError('PLUGIN_BAD_REPLY', `plugin ${plugin}: channel ${channel} send returned ${JSON.stringify(value)?.slice(0, 100)}, expected {platformMessageId?: string}`);
  }
  return typeof receipt.platformMessageId === 'string' ? { platformMessageId: receipt.platformMessageId } : {};
}
