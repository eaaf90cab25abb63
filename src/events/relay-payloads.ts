import { MESSAGE_STATES, type MessageState } from '../store/types.js';
import type { AgentProgress } from './types.js';

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more; leave room for the envelope. */
export const MAX_PAYLOAD_BYTES = 7_900;
/** Characters of streamed text per payload: even at 6 bytes a character (JSON escapes) it fits. */
const TOKEN_CHUNK = 1_200;
const MAX_ERROR_CHARS = 300;

export interface RelayedStatus {
  id: string;
  status: MessageState;
  attempts: number;
  error?: string;
}

export type Relay =
  | { kind: 'hello'; node: string }
  | { kind: 'watch'; node: string; ids: string[] }
  | { kind: 'statuses'; node: string; statuses: RelayedStatus[] }
  | { kind: 'tokens'; node: string; id: string; attempt: number; offset: number; text: string }
  | { kind: 'progress'; node: string; id: string; attempt: number; event: AgentProgress };

/** "A node joined": the others repeat their watches, so it relays for them from its first claim. */
export function encodeHello(node: string): string {
  return JSON.stringify({ n: node, h: 1 });
}

/** "Clients here watch these messages." */
export function encodeWatch(node: string, ids: readonly string[]): string[] {
  return packed(ids, (some) => JSON.stringify({ n: node, w: some }));
}

export function encodeStatuses(node: string, statuses: readonly RelayedStatus[]): string[] {
  const rows = statuses.map((s) => (s.error ? [s.id, s.status, s.attempts, s.error.slice(0, MAX_ERROR_CHARS)] : [s.id, s.status, s.attempts]));
  return packed(rows, (some) => JSON.stringify({ n: node, s: some }));
}

/** A reply's text from `offset`, in payloads that each say where they start. */
export function encodeTokens(node: string, id: string, attempt: number, offset: number, text: string): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + TOKEN_CHUNK);
    // Never split a surrogate pair between two payloads.
    if (end < text.length && /[\ud800-\udbff]/.test(text[end - 1]!)) end--;
    out.push(JSON.stringify({ n: node, t: id, a: attempt, o: offset + start, d: text.slice(start, end) }));
    start = end;
  }
  return out;
}

/** A tool loop's step or tool result (small: a tool name and a few numbers). */
export function encodeProgress(node: string, id: string, attempt: number, event: AgentProgress): string {
  return JSON.stringify({ n: node, g: id, a: attempt, e: event.kind === 'step' ? [event.index] : [event.tool.slice(0, 64), event.ok ? 1 : 0, event.ms, ...(event.error !== undefined ? [event.error.slice(0, 64)] : [])] });
}

function toProgress(e: unknown): AgentProgress | undefined {
  if (!Array.isArray(e)) return undefined;
  if (e.length === 1 && typeof e[0] === 'number') return { kind: 'step', index: e[0] };
  const [tool, ok, ms, error] = e as unknown[];
  if (typeof tool !== 'string' || (ok !== 0 && ok !== 1) || typeof ms !== 'number') return undefined;
  return { kind: 'tool', tool, ok: ok === 1, ms, ...(typeof error === 'string' ? { error } : {}) };
}

/** Undefined for a payload that is not a relay (another version's, or garbage). */
export function decodeRelay(payload: string): Relay | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.n !== 'string') return undefined;
  if (v.h === 1) return { kind: 'hello', node: v.n };
  if (Array.isArray(v.w)) return { kind: 'watch', node: v.n, ids: v.w.filter((id): id is string => typeof id === 'string') };
  if (Array.isArray(v.s)) return { kind: 'statuses', node: v.n, statuses: v.s.flatMap(toStatus) };
  if (typeof v.g === 'string' && typeof v.a === 'number') {
    const event = toProgress(v.e);
    return event ? { kind: 'progress', node: v.n, id: v.g, attempt: v.a, event } : undefined;
  }
  if (typeof v.t === 'string' && typeof v.a === 'number' && typeof v.o === 'number' && typeof v.d === 'string') {
    return { kind: 'tokens', node: v.n, id: v.t, attempt: v.a, offset: v.o, text: v.d };
  }
  return undefined;
}

function toStatus(row: unknown): RelayedStatus[] {
  if (!Array.isArray(row)) return [];
  const [id, status, attempts, error] = row as unknown[];
  if (typeof id !== 'string' || typeof attempts !== 'number' || !MESSAGE_STATES.includes(status as MessageState)) return [];
  return [{ id, status: status as MessageState, attempts, ...(typeof error === 'string' ? { error } : {}) }];
}

/** As many items per payload as fit under the limit (sizes summed, not re-encoded). */
function packed<T>(items: readonly T[], encode: (some: T[]) => string): string[] {
  const envelope = Buffer.byteLength(encode([]));
  const out: string[] = [];
  let batch: T[] = [];
  let size = envelope;
  for (const item of items) {
    const bytes = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (batch.length > 0 && size + bytes > MAX_PAYLOAD_BYTES) {
      out.push(encode(batch));
      batch = [];
      size = envelope;
    }
    batch.push(item);
    size += bytes;
  }
  if (batch.length > 0) out.push(encode(batch));
  return out;
}
