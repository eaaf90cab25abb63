/**
 * The tool loop: a model call, the tool calls it asked for (validated, run, their results
 * given back), again, until the model answers without tools or a budget ends the run. On a
 * budget stop the model gets one tool-free call to finish; if that fails too, the user gets a
 * plain "I could not finish that". Read-only calls in one step run together; a write waits for
 * the calls before it and runs alone, in the model's order.
 */
import type { JsonObject } from '../json.js';
import { ModelError } from '../models/errors.js';
import type { CallWarning, ChatMessage, FinishReason, GenerateRequest, LanguageModel, StreamPart, ToolCall, ToolDefinition, Usage } from '../models/types.js';
import type { Tool, ToolContext } from '../pipeline/types.js';
import type { AgentBudgets, StopReason } from './budgets.js';
import { LoopGuard } from './loop-guard.js';
import { errorContent, parseArguments, runTool, type ArgumentValidators, type ToolErrorCode, type ToolOutcome } from './tool-call.js';

export const COULD_NOT_FINISH = 'I could not finish that.';
/** The finishing call after a time-budget stop gets this long of its own. */
const FINISH_GRACE_MS = 15_000;

export interface AgentStep {
  tool: string;
  ok: boolean;
  ms: number;
  code?: ToolErrorCode;
}

export interface LoopObserver {
  text?(delta: string): void;
  /** A model call begins (0-based). */
  step?(index: number): void;
  tool?(step: AgentStep): void;
}

export interface RunLoopOptions {
  model: LanguageModel;
  messages: readonly ChatMessage[];
  tools: ReadonlyMap<string, Tool>;
  budgets: AgentBudgets;
  /** Settings for every call (temperature, maxTokens, providerOptions). */
  request?: Omit<GenerateRequest, 'messages' | 'tools' | 'toolChoice' | 'signal'>;
  /** What every call serves (message, conversation, sender, channel); the key is made per call. */
  context: Omit<ToolContext, 'signal' | 'toolCallId' | 'idempotencyKey'>;
  signal: AbortSignal;
  validators: ArgumentValidators;
  observer?: LoopObserver;
  now?: () => number;
}

export interface LoopResult {
  text: string;
  stopReason: StopReason;
  steps: AgentStep[];
  modelCalls: number;
  usage: Usage;
  finishReason: FinishReason;
  warnings: CallWarning[];
  /** The last model call's extras (the deployment that answered). */
  data?: JsonObject;
}

interface ModelAnswer {
  text: string;
  toolCalls: ToolCall[];
  finish: Extract<StreamPart, { type: 'finish' }>;
}

class BudgetTimeout extends Error {}

export async function runToolLoop(options: RunLoopOptions): Promise<LoopResult> {
  const { model, budgets, observer, validators } = options;
  const now = options.now ?? Date.now;
  const guard = new LoopGuard(budgets.loopDetection);
  const definitions: ToolDefinition[] = [...options.tools.values()].map((t) => ({ name: t.name, description: t.description, parameters: t.parameters, ...(t.examples ? { examples: t.examples } : {}) }));
  const messages: ChatMessage[] = [...options.messages];
  const steps: AgentStep[] = [];
  const texts: string[] = [];
  const warnings: CallWarning[] = [];
  const usage: Usage = { inputTokens: 0, outputTokens: 0 };
  let modelCalls = 0;
  /** Calls counted against max_tool_calls: every one the model made, but those refused for it. */
  let admitted = 0;
  let last: ModelAnswer['finish'] | undefined;
  let stop: StopReason | undefined;

  // The run's clock: a call or tool still running when it ends is aborted.
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(new BudgetTimeout('time budget')), budgets.timeBudgetMs);
  const runSignal = AbortSignal.any([options.signal, budget.signal]);

  const call = async (offerTools: boolean, signal: AbortSignal): Promise<ModelAnswer> => {
    observer?.step?.(modelCalls);
    modelCalls++;
    const request: GenerateRequest = {
      ...options.request,
      messages,
      ...(offerTools && definitions.length > 0 ? { tools: definitions, toolChoice: 'auto' as const } : {}),
      signal,
    };
    let text = '';
    const toolCalls: ToolCall[] = [];
    let finish: ModelAnswer['finish'] | undefined;
    for await (const part of model.doStream(request)) {
      if (part.type === 'text-delta') {
        text += part.delta;
        observer?.text?.(part.delta);
      } else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
      else finish = part;
    }
    if (!finish) throw new ModelError('bad_response', model.provider, 'the reply stream ended before its final part');
    usage.inputTokens += finish.usage.inputTokens;
    usage.outputTokens += finish.usage.outputTokens;
    warnings.push(...(finish.warnings ?? []));
    last = finish;
    if (text.trim() !== '') texts.push(text.trim());
    return { text, toolCalls: offerTools ? toolCalls : [], finish };
  };

  const budgetStop = (): StopReason | undefined => {
    if (guard.exhausted) return 'loop';
    if (admitted >= budgets.maxToolCalls) return 'max_tool_calls';
    if (modelCalls >= budgets.maxSteps - 1) return 'max_steps';
    if (budgets.tokenBudget !== undefined && usage.inputTokens + usage.outputTokens >= budgets.tokenBudget) return 'token_budget';
    if (budget.signal.aborted) return 'time_budget';
    return undefined;
  };

  try {
    if (budgets.maxSteps <= 1) stop = 'max_steps';
    while (stop === undefined) {
      let answer: ModelAnswer;
      try {
        answer = await call(true, runSignal);
      } catch (err) {
        if (budget.signal.aborted && !options.signal.aborted) {
          stop = 'time_budget';
          break;
        }
        throw err;
      }
      if (answer.toolCalls.length === 0) {
        clearTimeout(timer);
        return result('done');
      }
      messages.push({ role: 'assistant', content: answer.text, toolCalls: answer.toolCalls });
      for (const [i, outcome] of (await runCalls(answer.toolCalls)).entries()) {
        const toolCall = answer.toolCalls[i] as ToolCall;
        messages.push({ role: 'tool', content: outcome.content, toolCallId: toolCall.id, toolName: toolCall.name });
      }
      if (options.signal.aborted) throw options.signal.reason;
      stop = budgetStop();
    }
    clearTimeout(timer);
    // One tool-free call to finish, with its own grace when the clock ran out.
    const finishSignal = budget.signal.aborted ? AbortSignal.any([options.signal, AbortSignal.timeout(FINISH_GRACE_MS)]) : options.signal;
    const before = texts.length;
    try {
      await call(false, finishSignal);
    } catch (err) {
      if (options.signal.aborted) throw err;
    }
    if (texts.length === before) texts.push(COULD_NOT_FINISH);
    return result(stop);
  } finally {
    clearTimeout(timer);
  }

  function result(stopReason: StopReason): LoopResult {
    return {
      text: texts.join('\n\n'),
      stopReason,
      steps,
      modelCalls,
      usage,
      finishReason: last?.finishReason ?? 'stop',
      warnings,
      ...(last?.data ? { data: last.data } : {}),
    };
  }

  /** The calls of one step, in the model's order; reads together, each write alone. */
  async function runCalls(calls: readonly ToolCall[]): Promise<ToolOutcome[]> {
    const outcomes: ToolOutcome[] = new Array(calls.length);
    // The step and the call's place in it: the same when the message is delivered again.
    const step = modelCalls - 1;
    let reads: Array<Promise<void>> = [];
    for (const [i, toolCall] of calls.entries()) {
      const prepared = prepare(toolCall);
      if ('outcome' in prepared) {
        outcomes[i] = record(toolCall.name, prepared.outcome);
        continue;
      }
      const run = async (): Promise<void> => {
        const context = { ...options.context, ...(options.context.messageId !== undefined ? { idempotencyKey: `${options.context.messageId}:${step}:${i}` } : {}) };
        outcomes[i] = record(toolCall.name, await runTool({ ...prepared, call: toolCall, context, signal: runSignal, now }));
      };
      if (prepared.tool.effect === 'read') {
        reads.push(run());
        continue;
      }
      await Promise.all(reads);
      reads = [];
      await run();
    }
    await Promise.all(reads);
    return outcomes;
  }

  function record(tool: string, outcome: ToolOutcome): ToolOutcome {
    const step: AgentStep = { tool, ok: outcome.ok, ms: outcome.ms, ...(outcome.code !== undefined ? { code: outcome.code } : {}) };
    steps.push(step);
    observer?.tool?.(step);
    return outcome;
  }

  /** A call ready to run, or the error result that stands for it. */
  function prepare(toolCall: ToolCall): { outcome: ToolOutcome } | { tool: Tool; args: JsonObject; timeoutMs: number } {
    const failed = (code: ToolErrorCode, message: string): { outcome: ToolOutcome } => ({ outcome: { ok: false, code, content: errorContent(code, message), ms: 0 } });
    if (admitted >= budgets.maxToolCalls) return failed('budget', `not run: this run's limit of ${budgets.maxToolCalls} tool calls is reached`);
    admitted++;
    const tool = options.tools.get(toolCall.name);
    if (!tool) return failed('unknown_tool', `there is no tool "${toolCall.name}"; the tools are: ${[...options.tools.keys()].join(', ') || 'none'}`);
    const parsed = parseArguments(toolCall.arguments);
    if (!parsed.ok) return failed('invalid_json', parsed.message);
    const invalid = validators.validate(tool, parsed.args);
    if (invalid !== undefined) return failed('invalid_arguments', invalid);
    if (guard.check(tool.name, parsed.args) === 'block') {
      return failed('loop_blocked', `not run: ${tool.name} was already called twice with these arguments in this run; use the results you have, or change the arguments`);
    }
    return { tool, args: parsed.args, timeoutMs: tool.timeoutMs ?? budgets.toolTimeoutMs };
  }
}
