/**
 * One tool call as the model asked for it, turned into a result the model reads. Nothing here
 * throws: bad JSON, arguments the schema refuses, an unknown tool, a tool that throws, hangs
 * past its timeout or whose plugin is reloaded mid-call all become an error result, so the
 * model can correct itself or tell the user.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { JsonObject, JsonValue } from '../json.js';
import type { ToolCall } from '../models/types.js';
import type { Tool, ToolContext } from '../pipeline/types.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** Codes a tool result's error carries; the model sees them, and metrics count them. */
export type ToolErrorCode = 'invalid_json' | 'invalid_arguments' | 'unknown_tool' | 'tool_failed' | 'tool_timeout' | 'tool_unavailable' | 'loop_blocked' | 'budget' | 'outcome_unknown' | 'approval_pending' | 'approval_denied';

export interface ToolOutcome {
  ok: boolean;
  /** What goes back to the model as the tool message's content. */
  content: string;
  code?: ToolErrorCode;
  ms: number;
}

/** A plugin that is gone or reloading: the call never ran. */
const UNAVAILABLE = new Set(['PLUGIN_HANDLER_GONE', 'PLUGIN_NOT_RUNNING', 'PLUGIN_AUTO_DISABLED', 'SERVER_CLOSING']);
/** A tool's result as the model reads it is capped: a huge answer would eat the context. */
export const RESULT_LIMIT_CHARS = 16_000;

export function errorContent(code: ToolErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** The error result that stands for a call that was not run. */
export function failed(code: ToolErrorCode, message: string): { outcome: ToolOutcome } {
  return { outcome: { ok: false, code, content: errorContent(code, message), ms: 0 } };
}

/** A call that started before a crash and has no recorded result, not run again. */
export function unknownOutcome(tool: string): ToolOutcome {
  return {
    ok: false,
    code: 'outcome_unknown',
    content: errorContent(
      'outcome_unknown',
      `${tool} was started before a restart and its result was never recorded, so it may or may not have taken effect; it was not run again. Do not assume it worked; check its effect (or ask the user) before calling it again.`,
    ),
    ms: 0,
  };
}


/** Compiled argument schemas, per tool registration (a reload registers a new object). */
export class ArgumentValidators {
  private readonly ajv = addFormats(new Ajv({ allErrors: false, strict: false, useDefaults: true, coerceTypes: false }));
  private readonly compiled = new WeakMap<Tool, ValidateFunction | Error>();

  validate(tool: Tool, args: JsonObject): string | undefined {
    let check = this.compiled.get(tool);
    if (check === undefined) {
      try {
        check = this.ajv.compile(tool.parameters);
      } catch (err) {
        check = err as Error;
      }
      this.compiled.set(tool, check);
    }
    if (check instanceof Error) return `the tool's own parameter schema does not compile: ${check.message}`;
    if (check(args)) return undefined;
    const issue = check.errors?.[0];
    const where = `arguments${issue?.instancePath ? issue.instancePath.replace(/\//g, '.') : ''}`;
    const extra = issue?.keyword === 'additionalProperties' ? ` (unknown field "${String(issue.params['additionalProperty'])}")` : '';
    return `${where} ${issue?.message ?? 'are invalid'}${extra}`;
  }
}

/** The arguments the model wrote, parsed: an object, or the reason it is not one. */
export function parseArguments(text: string): { ok: true; args: JsonObject } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `the arguments are not JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'the arguments must be a JSON object' };
  return { ok: true, args: value as JsonObject };
}

function resultContent(value: JsonValue): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
  return text.length <= RESULT_LIMIT_CHARS ? text : `${text.slice(0, RESULT_LIMIT_CHARS)}… [cut: the result was ${text.length} characters]`;
}

export interface RunToolOptions {
  tool: Tool;
  args: JsonObject;
  call: ToolCall;
  context: Omit<ToolContext, 'signal' | 'toolCallId'>;
  signal: AbortSignal;
  timeoutMs: number;
  now: () => number;
}

/** Runs a validated call with its timeout and the run's signal; its failures as results. */
export async function runTool(options: RunToolOptions): Promise<ToolOutcome> {
  const { tool, args, call, now } = options;
  const started = now();
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
  });
  try {
    const result = await Promise.race([tool.execute(args, { ...options.context, signal: controller.signal, toolCallId: call.id }), timedOut]);
    if (result === 'timeout') {
      controller.abort(new Error('tool timeout'));
      return { ok: false, code: 'tool_timeout', content: errorContent('tool_timeout', `${tool.name} gave no result within ${options.timeoutMs} ms`), ms: now() - started };
    }
    return { ok: true, content: resultContent(result), ms: now() - started };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.has(code)) {
      return { ok: false, code: 'tool_unavailable', content: errorContent('tool_unavailable', `${tool.name} is not available right now (its plugin is reloading or stopped)`), ms: now() - started };
    }
    return { ok: false, code: 'tool_failed', content: errorContent('tool_failed', `${tool.name} failed: ${err instanceof Error ? err.message : String(err)}`), ms: now() - started };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }
}
