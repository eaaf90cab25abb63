import { isJsonObject, type JsonObject, type JsonValue } from '../../json.js';
import type { ChatMessage } from '../types.js';
import { fillMissing, type IndexedTool, type ToolIndex } from './tool-index.js';

/**
 * What the built-in model does with tools on one call: call one, ask for what a call lacks,
 * or nothing (it answers from its intents as without tools). And, once a tool's result is
 * back, the reply made of it.
 */

/**
 * Below this confidence a message is not routed to a tool. Chosen on the labelled phrases in
 * test/fixtures/local-tools/ (test/models/local/tool-threshold.test.ts sweeps it): the middle
 * of the widest range of thresholds with the best accuracy on the tuning half.
 */
export const TOOL_MIN_CONFIDENCE = 0.7;

/**
 * A call waiting for arguments, kept in the question's `reply.data.pendingTool` (in the store,
 * so any node answering the next message sees it) and handed back on the conversation's next
 * message as `providerOptions.local.pending`.
 */
export interface PendingTool {
  tool: string;
  arguments: JsonObject;
  missing: string[];
}

export type ToolDecision =
  | { kind: 'call'; tool: string; args: JsonObject; confidence: number }
  | { kind: 'ask'; question: string; pending: PendingTool; confidence: number }
  | { kind: 'none' };

export interface DecideOptions {
  index: ToolIndex;
  text: string;
  pending?: PendingTool;
  minConfidence?: number;
  /** Whether the built-in intents understand the text (a "thanks" is not an answer to "which order?"). */
  understood: boolean;
}

export function decide(options: DecideOptions): ToolDecision {
  const { index, text, pending } = options;
  const min = options.minConfidence ?? TOOL_MIN_CONFIDENCE;
  const match = index.match(text);
  // A new request wins over a pending one: "what time is it" after "which order?" asks for the time.
  const fresh = match && match.confidence >= min && (match.tool.definition.name !== pending?.tool || Object.keys(match.args).length > 0) ? match : undefined;
  if (fresh) {
    // The same tool asked again keeps what the question already had ("track my order" ... "track order 12345").
    const kept = fresh.tool.definition.name === pending?.tool ? { ...pending.arguments, ...fresh.args } : fresh.args;
    return complete(fresh.tool, kept, fresh.tool.required.filter((name) => kept[name] === undefined), fresh.confidence);
  }
  const waiting = pending ? index.tools.get(pending.tool) : undefined;
  if (pending && waiting && !options.understood) {
    const found = fillMissing(waiting, text, pending.missing);
    const args = { ...pending.arguments, ...found };
    return complete(waiting, args, pending.missing.filter((name) => found[name] === undefined), 1);
  }
  return { kind: 'none' };
}

function complete(tool: IndexedTool, args: JsonObject, missing: string[], confidence: number): ToolDecision {
  const name = tool.definition.name;
  if (missing.length === 0) return { kind: 'call', tool: name, args, confidence };
  return { kind: 'ask', question: question(tool, missing), pending: { tool: name, arguments: args, missing }, confidence };
}

/** "What is the order number (e.g. "A-1042")?": from each missing parameter's description, else its name. */
export function question(tool: IndexedTool, missing: readonly string[]): string {
  const label = (name: string) => {
    const description = tool.parameters[name]?.description;
    return typeof description === 'string' && description.trim() !== '' && description.length <= 80 ? description.trim().replace(/[.]$/, '') : name.replace(/[_-]+/g, ' ');
  };
  if (missing.length === 1) return `To do that I need ${label(missing[0] as string)}. What is it?`;
  return `To do that I need: ${missing.map(label).join('; ')}. Please send them.`;
}

/** The pending call from `providerOptions.local.pending`, if it is one. */
export function pendingFrom(value: unknown): PendingTool | undefined {
  if (!isJsonObject(value)) return undefined;
  const { tool, arguments: args, missing } = value;
  if (typeof tool !== 'string' || !isJsonObject(args) || !Array.isArray(missing) || !missing.every((m) => typeof m === 'string') || missing.length === 0) return undefined;
  return { tool, arguments: args, missing: missing as string[] };
}

/**
 * The tool results the conversation ends with (after the last assistant message), as the
 * reply: a string result as it is; an object with a `text`, `message` or `answer` string,
 * that; anything else as JSON. An error result says what went wrong.
 */
export function renderResults(messages: readonly ChatMessage[]): string | undefined {
  const results: string[] = [];
  for (let i = messages.length - 1; i >= 0 && (messages[i] as ChatMessage).role === 'tool'; i--) results.unshift(render((messages[i] as ChatMessage).content));
  return results.length > 0 ? results.join('\n\n') : undefined;
}

function render(content: string): string {
  let value: JsonValue;
  try {
    value = JSON.parse(content) as JsonValue;
  } catch {
    return content;
  }
  if (typeof value === 'string') return value;
  if (isJsonObject(value)) {
    const error = value.error;
    if (isJsonObject(error) && typeof error.message === 'string' && Object.keys(value).length === 1) return `I could not do that: ${error.message}`;
    for (const key of ['text', 'message', 'answer']) if (typeof value[key] === 'string') return value[key] as string;
  }
  return JSON.stringify(value);
}
