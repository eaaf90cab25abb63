import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../../json.js';
import type { ChatMessage, ToolCall } from '../types.js';

/**
 * Tool-call plumbing shared by vendors that carry a call's arguments as a JSON object
 * (Anthropic, Gemini, Ollama) rather than as JSON text (OpenAI), and that may not give a call
 * an id of its own.
 */

/** The arguments a model wrote, as the object those vendors want back; text that is not a JSON object is kept under `input`. */
export function argumentsObject(call: ToolCall): JsonObject {
  try {
    const value: unknown = JSON.parse(call.arguments || '{}');
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as JsonObject;
  } catch {
    // fall through: the model wrote something that is not JSON, and the vendor still needs an object
  }
  return { input: call.arguments };
}

/** An id for a call the vendor did not name, so a tool result can still refer to it. */
export function newToolCallId(): string {
  return `call_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
}

/**
 * The name of the tool a tool message answers: its own `toolName`, else the name on the
 * assistant call it refers to (Gemini and Ollama match results by name).
 */
export function toolNameOf(message: ChatMessage, messages: readonly ChatMessage[]): string {
  if (message.toolName) return message.toolName;
  for (const m of messages) for (const call of m.toolCalls ?? []) if (call.id === message.toolCallId) return call.name;
  return 'tool';
}
