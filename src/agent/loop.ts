/**
 * The tool loop: a model call, the tool calls it asked for (validated, run, their results
 * given back), again, until the model answers without tools or a budget ends the run. On a
 * budget stop the model gets one tool-free call to finish; if that fails too, the user gets a
 * plain "I could not finish that". Read-only calls in one step run together; a write waits for
 * the calls before it and runs alone, in the model's order. With a journal, every model call
 * and tool call is written down before and after it runs, and a run of a message delivered
 * again replays what finished (journal.ts).
 */
import type { JsonObject } from '../json.js';
import { ModelError } from '../models/errors.js';
import type { CallWarning, ChatMessage, FinishReason, GenerateRequest, LanguageModel, ToolCall, ToolDefinition, Usage } from '../models/types.js';
import type { Tool, ToolContext } from '../pipeline/types.js';
import type { AgentBudgets, StopReason } from './budgets.js';
import type { JournalEntry } from '../store/types.js';
import { answerEntry, answerFrom, JournalIndex, MODEL_CALL, outcomeEntry, outcomeFrom, type JournaledAnswer, type LoopJournal } from './journal.js';
import { LoopGuard } from './loop-guard.js';
import { failed, parseArguments, runTool, unknownOutcome, type ArgumentValidators, type ToolErrorCode, type ToolOutcome } from './tool-call.js';

export const COULD_NOT_FINISH = 'I could not finish that.';
/** The finishing call after a time-budget stop gets this long of its own. */
const FINISH_GRACE_MS = 15_000;

export interface AgentStep {
  tool: string;
  ok: boolean;
  ms: number;
  code?: ToolErrorCode;
}

/** A call waiting for a person's approval (docs/tools.md, Approvals). */
export interface PendingApproval {
  id: string;
  tool: string;
}

/** How the loop asks for approvals: which tools need one, and recording a request (once per call). */
export interface LoopApprovals {
  needed(tool: Tool): boolean;
  request(call: { step: number; call: number; toolCall: ToolCall; arguments: string }): Promise<{ id: string }>;
}

/** A continuation's decided call: run first (if approved) with its own key, then the loop goes on. */
export interface DecidedCall {
  toolCall: ToolCall;
  decision: 'approved' | 'denied' | 'expired';
  by: string | null;
  idempotencyKey: string;
}

/** The journal step of a continuation's decided call, before the model's first. */
const DECIDED_STEP = -1;

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
  /** Where the run is written down (the message's journal); without one nothing is. */
  journal?: LoopJournal;
  /** Tools that wait for a person; without it every call runs. */
  approvals?: LoopApprovals;
  /** This message carries out a decided approval. */
  continuation?: DecidedCall;
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
  /** Model calls and tool calls taken from the journal of an earlier attempt instead of made again. */
  replayed: number;
  /** Calls of this run now waiting for approval. */
  approvals: PendingApproval[];
}

class BudgetTimeout extends Error {}

export async function runToolLoop(options: RunLoopOptions): Promise<LoopResult> {
  const { model, budgets, observer, validators, journal } = options;
  const now = options.now ?? Date.now;
  const earlier = new JournalIndex(journal ? await journal.load() : []);
  let replayed = 0;
  const pendingApprovals: PendingApproval[] = [];
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
  let last: JournaledAnswer | undefined;
  let stop: StopReason | undefined;

  // The run's clock: a call or tool still running when it ends is aborted.
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(new BudgetTimeout('time budget')), budgets.timeBudgetMs);
  const runSignal = AbortSignal.any([options.signal, budget.signal]);

  /** The model's streamed answer to the conversation so far. */
  const stream = async (offerTools: boolean, signal: AbortSignal): Promise<JournaledAnswer> => {
    const request: GenerateRequest = {
      ...options.request,
      messages,
      ...(offerTools && definitions.length > 0 ? { tools: definitions, toolChoice: 'auto' as const } : {}),
      signal,
    };
    let text = '';
    const toolCalls: ToolCall[] = [];
    for await (const part of model.doStream(request)) {
      if (part.type === 'text-delta') {
        text += part.delta;
        observer?.text?.(part.delta);
      } else if (part.type === 'tool-call') toolCalls.push(part.toolCall);
      else return { text, toolCalls: offerTools ? toolCalls : [], finishReason: part.finishReason, usage: part.usage, warnings: part.warnings ?? [], ...(part.data ? { data: part.data } : {}) };
    }
    throw new ModelError('bad_response', model.provider, 'the reply stream ended before its final part');
  };

  /** One model call, or its answer from the journal when an earlier attempt got it. */
  const call = async (offerTools: boolean, signal: AbortSignal): Promise<JournaledAnswer> => {
    const step = modelCalls;
    observer?.step?.(step);
    modelCalls++;
    const row = earlier.get(step, MODEL_CALL);
    let answer = row?.state === 'finished' ? answerFrom(row.entry, offerTools) : undefined;
    if (answer) {
      replayed++;
      if (answer.text !== '') observer?.text?.(answer.text);
    } else {
      // Losing a model call's rows in a crash costs one more call: no need to wait for the disk.
      await journal?.write([{ step, call: MODEL_CALL, state: 'started', entry: { offeredTools: offerTools }, attempt: journal.attempt }], false);
      answer = await stream(offerTools, signal);
      await journal?.write([{ step, call: MODEL_CALL, state: 'finished', entry: answerEntry(answer, offerTools), attempt: journal.attempt }], false);
    }
    usage.inputTokens += answer.usage.inputTokens;
    usage.outputTokens += answer.usage.outputTokens;
    warnings.push(...answer.warnings);
    last = answer;
    if (answer.text.trim() !== '') texts.push(answer.text.trim());
    return answer;
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
    if (options.continuation) await continueDecided(options.continuation);
    if (budgets.maxSteps <= 1) stop = 'max_steps';
    while (stop === undefined) {
      let answer: JournaledAnswer;
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
      replayed,
      approvals: pendingApprovals,
    };
  }

  /** The calls of one step, in the model's order; reads together, each write alone. */
  async function runCalls(calls: readonly ToolCall[]): Promise<ToolOutcome[]> {
    const outcomes: ToolOutcome[] = new Array(calls.length);
    // The step and the call's place in it: the same when the message is delivered again.
    const step = modelCalls - 1;
    let reads: Array<Promise<void>> = [];
    for (const [i, toolCall] of calls.entries()) {
      // Prepared even when replayed: the budgets and the loop guard count it as before.
      const prepared = prepare(toolCall);
      const row = earlier.get(step, i);
      const done = row?.state === 'finished' ? outcomeFrom(row.entry) : undefined;
      if (done) {
        replayed++;
        if (done.code === 'approval_pending') pendingApprovals.push(pendingOf(toolCall.name, done));
        outcomes[i] = record(toolCall.name, done);
        continue;
      }
      if ('outcome' in prepared) {
        outcomes[i] = record(toolCall.name, prepared.outcome);
        continue;
      }
      if (options.approvals?.needed(prepared.tool)) {
        outcomes[i] = record(toolCall.name, await ask(step, i, toolCall, prepared.args));
        continue;
      }
      const key = options.context.messageId !== undefined ? `${options.context.messageId}:${step}:${i}` : undefined;
      const run = async (): Promise<void> => {
        outcomes[i] = record(toolCall.name, await execute(step, i, toolCall, prepared, row, key));
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

  /**
   * Journal row (step, call), written for this attempt. A call that is not safe to repeat waits
   * for the disk (its start before it runs, its result after); a read's rows need not.
   */
  async function write(step: number, call: number, toolCall: ToolCall, outcome?: ToolOutcome, durable = true): Promise<void> {
    const entry = outcome ? outcomeEntry(toolCall.name, toolCall.arguments, outcome) : { tool: toolCall.name, arguments: toolCall.arguments };
    await journal?.write([{ step, call, state: outcome ? 'finished' : 'started', entry, attempt: journal.attempt }], durable);
  }

  /** Run a ready call, written down before and after; `row` is what an earlier attempt left. */
  async function execute(step: number, call: number, toolCall: ToolCall, prepared: Ready, row: JournalEntry | undefined, idempotencyKey: string | undefined): Promise<ToolOutcome> {
    // Started before, no result: it may have done its work. Only a call that is safe to
    // repeat runs again (with the same key); the model hears that the outcome is unknown.
    if (row?.state === 'started' && !(prepared.tool.idempotent === true || prepared.tool.effect === 'read')) {
      const unknown = unknownOutcome(toolCall.name);
      await write(step, call, toolCall, unknown);
      return unknown;
    }
    const durable = prepared.tool.effect === 'write';
    await write(step, call, toolCall, undefined, durable);
    const context = { ...options.context, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) };
    const outcome = await runTool({ ...prepared, call: toolCall, context, signal: runSignal, now });
    // Stopped from outside (shutdown, a lost lease) while it ran: whether it took effect is
    // not known, so the row stays `started` and a redelivery decides as after a crash.
    if (options.signal.aborted) throw options.signal.reason;
    await write(step, call, toolCall, outcome, durable);
    return outcome;
  }

  /** A call that must wait for a person: recorded as an approval, and not run now. */
  async function ask(step: number, call: number, toolCall: ToolCall, args: JsonObject): Promise<ToolOutcome> {
    const { id } = await options.approvals!.request({ step, call, toolCall, arguments: JSON.stringify(args) });
    const outcome: ToolOutcome = {
      ok: false,
      code: 'approval_pending',
      content: JSON.stringify({
        status: 'pending_approval',
        approval: id,
        message: `${toolCall.name} needs a person's approval and was not run now. If approved it runs with these exact arguments and the user is told its result; tell the user you have asked (approval ${id}).`,
      }),
      ms: 0,
    };
    await write(step, call, toolCall, outcome);
    pendingApprovals.push({ id, tool: toolCall.name });
    return outcome;
  }

  /** A continuation: the decided call as the model made it, then its result (run only if approved). */
  async function continueDecided(decided: DecidedCall): Promise<void> {
    const { toolCall } = decided;
    messages.push({ role: 'assistant', content: '', toolCalls: [toolCall] });
    const row = earlier.get(DECIDED_STEP, 0);
    const done = row?.state === 'finished' ? outcomeFrom(row.entry) : undefined;
    let outcome: ToolOutcome;
    if (done) {
      replayed++;
      outcome = done;
    } else if (decided.decision !== 'approved') {
      const why = decided.decision === 'expired' ? 'nobody approved it in time' : `${decided.by ?? 'an operator'} denied it`;
      outcome = failed('approval_denied', `${toolCall.name} was not run: ${why}. Tell the user.`).outcome;
    } else {
      const prepared = resolve(toolCall);
      outcome = 'outcome' in prepared ? prepared.outcome : await execute(DECIDED_STEP, 0, toolCall, prepared, row, decided.idempotencyKey);
    }
    record(toolCall.name, outcome);
    messages.push({ role: 'tool', content: outcome.content, toolCallId: toolCall.id, toolName: toolCall.name });
  }

  function record(tool: string, outcome: ToolOutcome): ToolOutcome {
    const step: AgentStep = { tool, ok: outcome.ok, ms: outcome.ms, ...(outcome.code !== undefined ? { code: outcome.code } : {}) };
    steps.push(step);
    observer?.tool?.(step);
    return outcome;
  }

  /** A call ready to run, or the error result that stands for it: counted, checked against the loop guard. */
  function prepare(toolCall: ToolCall): { outcome: ToolOutcome } | Ready {
    if (admitted >= budgets.maxToolCalls) return failed('budget', `not run: this run's limit of ${budgets.maxToolCalls} tool calls is reached`);
    admitted++;
    const resolved = resolve(toolCall);
    if ('outcome' in resolved) return resolved;
    if (guard.check(resolved.tool.name, resolved.args) === 'block') {
      return failed('loop_blocked', `not run: ${resolved.tool.name} was already called twice with these arguments in this run; use the results you have, or change the arguments`);
    }
    return resolved;
  }

  /** The tool a call names and its arguments, parsed and validated. */
  function resolve(toolCall: ToolCall): { outcome: ToolOutcome } | Ready {
    const tool = options.tools.get(toolCall.name);
    if (!tool) return failed('unknown_tool', `there is no tool "${toolCall.name}"; the tools are: ${[...options.tools.keys()].join(', ') || 'none'}`);
    const parsed = parseArguments(toolCall.arguments);
    if (!parsed.ok) return failed('invalid_json', parsed.message);
    const invalid = validators.validate(tool, parsed.args);
    if (invalid !== undefined) return failed('invalid_arguments', invalid);
    return { tool, args: parsed.args, timeoutMs: tool.timeoutMs ?? budgets.toolTimeoutMs };
  }
}

interface Ready {
  tool: Tool;
  args: JsonObject;
  timeoutMs: number;
}


/** The approval a replayed `approval_pending` result names. */
function pendingOf(tool: string, outcome: ToolOutcome): PendingApproval {
  const body = JSON.parse(outcome.content) as { approval?: unknown };
  return { id: String(body.approval), tool };
}
