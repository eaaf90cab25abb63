import type { Logger } from 'pino';
import { isJsonObject, type JsonObject } from '../json.js';
import { ModelError } from '../models/errors.js';
import type { CallWarning, ChatMessage, GenerateRequest, LanguageModel, StreamPart } from '../models/types.js';
import { DEFAULT_BUDGETS, type AgentBudgets } from '../agent/budgets.js';
import type { LoopJournal } from '../agent/journal.js';
import { runToolLoop, type DecidedCall, type LoopResult, type PendingApproval } from '../agent/loop.js';
import type { ApprovalDesk } from '../agent/approvals.js';
import type { Caller, ToolPolicy } from '../agent/policy.js';
import { citationJson } from '../kb/answer.js';
import type { KnowledgeContext } from '../kb/responders.js';
import { ArgumentValidators } from '../agent/tool-call.js';
import type { Responder, ResponderContext, ResponderReply, Tool } from '../pipeline/types.js';
import type { MessageRecord } from '../store/types.js';
import { withSenderTimeZone } from '../channels/time-zone.js';

/** The call settings a responder asks for: from configuration, or from the message's client. */
export type GenerationSettings = Pick<GenerateRequest, 'temperature' | 'maxTokens'>;

export interface ModelResponderOptions {
  model: LanguageModel;
  systemPrompt?: string;
  /** Earlier turns of the conversation, oldest first, already cut to the model's budget. */
  history?: (conversationId: string, currentMessageId: string) => Promise<ChatMessage[]>;
  /** What agent memory adds after the system prompt (pinned facts, summaries): src/memory/. */
  memory?: (message: MessageRecord) => Promise<ChatMessage[]>;
  /** models.temperature and models.max_tokens; a message's OpenAI client settings override them. */
  settings?: GenerationSettings;
  /**
   * Hand the pipeline's analysis to the built-in model (`providerOptions.local.analysis`): only
   * it reads it, and what is passed is part of the cache key, so it is passed only where read.
   */
  localAnalysis?: boolean;
  /** The built-in model's tool call waiting for arguments, from the conversation's last reply (`providerOptions.local.pending`). */
  localPending?: (message: MessageRecord) => Promise<JsonObject | undefined>;
  order?: number;
  /** The tools registered now (plugins come and go); with any, the answer runs the tool loop. */
  tools?: () => ReadonlyMap<string, Tool>;
  /** The loop's bounds (`agent:`); default DEFAULT_BUDGETS. */
  budgets?: AgentBudgets;
  /** Told each loop's figures when it ends (metrics). */
  onLoop?: (result: LoopResult) => void;
  /** The journal of a claimed message's tool loop (the store's); without it a loop is not written down. */
  journal?: (message: MessageRecord, lease: number) => LoopJournal;
  /** Who is offered which tool (`tools:`); default: every tool to everyone. */
  policy?: ToolPolicy;
  /** Approvals and their continuations; without it no call waits for approval. */
  approvals?: ApprovalDesk;
  /** The knowledge base's passages for this message, and the check of the answer's citations (src/kb/responders.ts). */
  knowledge?: (message: MessageRecord, signal: AbortSignal) => Promise<KnowledgeContext | undefined>;
}

/**
 * Answers a message with a language model, streaming its text to clients watching the
 * message. A stream that ends without its final part is an error, never a silent success.
 * What the model could not honour (a setting, tools) is kept in the reply's `data.warnings`
 * and logged once per deployment and setting.
 */
export function modelResponder(options: ModelResponderOptions): Responder {
  const { model } = options;
  const warned = new Set<string>();
  const validators = new ArgumentValidators();
  return {
    name: 'model',
    order: options.order ?? 100,
    async respond(ctx) {
      const knowledge = await options.knowledge?.(ctx.message, ctx.signal);
      const reply = await answer(ctx, knowledge);
      if (!knowledge) return reply;
      // Only citations of passages the model was given count; a made-up [n] leaves the text.
      const checked = knowledge.finish(reply.text);
      return { ...reply, text: checked.text, data: { ...reply.data, citations: checked.citations.map(citationJson) } };
    },
  };

  async function answer(ctx: ResponderContext, knowledge: KnowledgeContext | undefined): Promise<ResponderReply> {
      const messages: ChatMessage[] = [];
      if (options.systemPrompt) messages.push({ role: 'system', content: options.systemPrompt });
      if (options.memory) messages.push(...(await options.memory(ctx.message)));
      if (knowledge) messages.push(...knowledge.messages);
      if (options.history) messages.push(...(await options.history(ctx.message.conversationId, ctx.message.id)));
      messages.push({ role: 'user', content: ctx.message.text });

      const pending = await options.localPending?.(ctx.message);
      const request: GenerateRequest = {
        messages,
        ...options.settings,
        ...clientSettings(ctx.message),
        ...(options.localAnalysis && { providerOptions: { local: { analysis: { ...ctx.analysis }, ...(pending && { pending }) } } }),
        signal: ctx.signal,
      };
      const caller = { channel: ctx.message.channel, sender: ctx.message.sender };
      const registered = options.tools?.();
      const tools = registered && options.policy ? options.policy.offered(registered, caller) : registered;
      const decided = await options.approvals?.continuationOf(ctx.message);
      if ((tools && tools.size > 0) || decided) return withTools(ctx, request, tools ?? new Map(), caller, decided);
      let text = '';
      let finish: Extract<StreamPart, { type: 'finish' }> | undefined;
      for await (const part of model.doStream(request)) {
        if (part.type === 'text-delta') {
          text += part.delta;
          ctx.stream(part.delta);
        } else if (part.type === 'finish') {
          finish = part;
        }
        // No tools are offered here, so tool-call parts cannot arrive.
      }
      if (!finish) throw new ModelError('bad_response', model.provider, 'the reply stream ended before its final part');
      const warnings = finish.warnings ?? [];
      const deployment = typeof finish.data?.deployment === 'string' ? finish.data.deployment : model.id;
      logOnce(ctx.log, warned, deployment, warnings);
      return {
        text,
        data: {
          model: model.id,
          finishReason: finish.finishReason,
          usage: { ...finish.usage },
          ...(finish.data ?? {}),
          ...(warnings.length > 0 && { warnings: warnings.map(toJson) }),
        },
      };
  }

  /** The answer through the tool loop: `data.steps` lists each call, `data.stopReason` why it ended. */
  async function withTools(ctx: ResponderContext, request: GenerateRequest, tools: ReadonlyMap<string, Tool>, caller: Caller, decided: DecidedCall | undefined): Promise<ResponderReply> {
    const { signal: _signal, messages, ...settings } = request;
    const result = await runToolLoop({
      model,
      messages,
      tools,
      budgets: options.budgets ?? DEFAULT_BUDGETS,
      request: settings,
      context: {
        messageId: ctx.message.id,
        attempt: ctx.message.attempts,
        conversationId: ctx.message.conversationId,
        channel: ctx.message.channel,
        ...(ctx.message.sender ? { sender: ctx.message.sender } : {}),
        ...withSenderTimeZone(ctx.message),
      },
      signal: ctx.signal,
      validators,
      ...(options.journal && ctx.lease !== undefined && { journal: options.journal(ctx.message, ctx.lease) }),
      // Approvals need the journal: a replayed step must find its approval, not ask again.
      ...(options.approvals && options.journal && ctx.lease !== undefined && { approvals: options.approvals.forMessage(ctx.message, ctx.lease, caller) }),
      ...(decided && { continuation: decided }),
      observer: {
        text: (delta) => ctx.stream(delta),
        step: (index) => ctx.progress?.({ kind: 'step', index }),
        tool: (step) => ctx.progress?.({ kind: 'tool', tool: step.tool, ok: step.ok, ms: step.ms, ...(step.code !== undefined ? { error: step.code } : {}) }),
      },
    });
    options.onLoop?.(result);
    const deployment = typeof result.data?.deployment === 'string' ? result.data.deployment : model.id;
    logOnce(ctx.log, warned, deployment, result.warnings);
    return {
      text: withApprovalNotice(result.text, result.approvals),
      data: {
        model: model.id,
        finishReason: result.finishReason,
        usage: { ...result.usage },
        ...(result.data ?? {}),
        steps: result.steps.map((s) => ({ tool: s.tool, ok: s.ok, ms: s.ms, ...(s.code !== undefined ? { error: s.code } : {}) })),
        stopReason: result.stopReason,
        ...(result.replayed > 0 && { replayed: result.replayed }),
        ...(result.approvals.length > 0 && { approvals: result.approvals.map((a) => ({ id: a.id, tool: a.tool })) }),
        ...(result.warnings.length > 0 && { warnings: result.warnings.map(toJson) }),
      },
    };
  }
}

/** The user must learn that something waits for approval, whatever the model wrote. */
function withApprovalNotice(text: string, pending: readonly PendingApproval[]): string {
  const unsaid = pending.filter((a) => !text.includes(a.id));
  if (unsaid.length === 0) return text;
  const notice = unsaid.map((a) => `I have asked for approval to run ${a.tool} (approval ${a.id}); I will tell you the result once it is decided.`).join('\n');
  return text.trim() === '' ? notice : `${text}\n\n${notice}`;
}

/**
 * What an OpenAI client asked for with its message: /v1/chat/completions keeps `temperature`
 * and `max_tokens` in `metadata.openai`. Anything else there is not a setting and is ignored.
 */
function clientSettings(message: Pick<MessageRecord, 'metadata'>): GenerationSettings {
  const openai = message.metadata?.openai;
  if (!isJsonObject(openai)) return {};
  const { temperature, maxTokens } = openai;
  return {
    ...(typeof temperature === 'number' && { temperature }),
    ...(typeof maxTokens === 'number' && Number.isInteger(maxTokens) && maxTokens > 0 && { maxTokens }),
  };
}

/** A warning repeats on every call of a deployment that cannot honour a setting: one log line says it. */
function logOnce(log: Logger, warned: Set<string>, deployment: string, warnings: readonly CallWarning[]): void {
  for (const warning of warnings) {
    const what = warning.type === 'unsupported-setting' ? warning.setting : warning.message;
    const key = `${deployment}\u0000${what}`;
    if (warned.has(key)) continue;
    warned.add(key);
    const said = warning.type === 'unsupported-setting' ? `did not honour ${warning.setting}${warning.details ? `: ${warning.details}` : ''}` : `warned: ${warning.message}`;
    log.warn({ event: 'model.warning', deployment, warning: toJson(warning) }, `model deployment ${deployment} ${said} (logged once)`);
  }
}

function toJson(warning: CallWarning): JsonObject {
  return { ...warning };
}
