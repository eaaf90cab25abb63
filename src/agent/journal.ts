/**
 * The tool loop's journal: every model call and tool call of a run is written to the store
 * before it runs and again with what came back, fenced by the message's lease. A message
 * delivered again (its worker died) replays what finished instead of calling the model or the
 * tool again; a call that started and has no result is run again only when that is safe.
 */
import { PincerError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../json.js';
import type { CallWarning, FinishReason, ToolCall, Usage } from '../models/types.js';
import type { AgentStore, ClaimedMessage, JournalEntry } from '../store/types.js';
import type { ToolErrorCode, ToolOutcome } from './tool-call.js';

/** The `call` of a step's model call; tool calls count from 0. */
export const MODEL_CALL = -1;

/** What the loop needs of a journal: earlier attempts' rows, and durable writes. */
export interface LoopJournal {
  load(): Promise<JournalEntry[]>;
  /**
   * Throws LEASE_LOST when another worker owns the message now. `durable`: on disk when it
   * resolves; else a later durable write covers it (losing it in a crash costs a repeat of
   * something safe to repeat, never a side effect).
   */
  write(entries: JournalEntry[], durable: boolean): Promise<void>;
  readonly attempt: number;
}

/** The journal of one claimed message in the store. */
export function storeJournal(store: Pick<AgentStore, 'journal' | 'writeJournal'>, claim: Pick<ClaimedMessage, 'id' | 'lease' | 'attempts'>): LoopJournal {
  return {
    attempt: claim.attempts,
    load: () => store.journal(claim.id),
    async write(entries, durable) {
      if (!(await store.writeJournal(claim, entries, { durable }))) {
        throw new PincerError('LEASE_LOST', 'the lease on this message moved to another worker while its tool loop ran; this copy was stopped');
      }
    },
  };
}

/** A model call as the journal keeps it: everything the loop read from its stream. */
export interface JournaledAnswer {
  text: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  warnings: CallWarning[];
  data?: JsonObject;
}

export function answerEntry(answer: JournaledAnswer, offeredTools: boolean): JsonObject {
  return {
    offeredTools,
    text: answer.text,
    toolCalls: answer.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
    finishReason: answer.finishReason,
    usage: { inputTokens: answer.usage.inputTokens, outputTokens: answer.usage.outputTokens },
    warnings: answer.warnings.map((w) => ({ ...w })),
    ...(answer.data ? { data: answer.data } : {}),
  };
}

/** A finished model call read back; undefined when the row is not one this loop wrote for the same kind of call. */
export function answerFrom(entry: JsonObject, offeredTools: boolean): JournaledAnswer | undefined {
  if (entry.offeredTools !== offeredTools || typeof entry.text !== 'string' || !Array.isArray(entry.toolCalls)) return undefined;
  const usage = isJsonObject(entry.usage) ? entry.usage : {};
  return {
    text: entry.text,
    toolCalls: entry.toolCalls.filter(isJsonObject).map((c) => ({ id: String(c.id), name: String(c.name), arguments: String(c.arguments) })),
    finishReason: (typeof entry.finishReason === 'string' ? entry.finishReason : 'stop') as FinishReason,
    usage: { inputTokens: Number(usage.inputTokens ?? 0), outputTokens: Number(usage.outputTokens ?? 0) },
    warnings: (Array.isArray(entry.warnings) ? entry.warnings.filter(isJsonObject) : []) as unknown as CallWarning[],
    ...(isJsonObject(entry.data) ? { data: entry.data } : {}),
  };
}

export function outcomeEntry(tool: string, args: string, outcome: ToolOutcome): JsonObject {
  return { tool, arguments: args, ok: outcome.ok, content: outcome.content, ms: outcome.ms, ...(outcome.code !== undefined ? { code: outcome.code } : {}) };
}

export function outcomeFrom(entry: JsonObject): ToolOutcome | undefined {
  if (typeof entry.ok !== 'boolean' || typeof entry.content !== 'string') return undefined;
  return { ok: entry.ok, content: entry.content, ms: typeof entry.ms === 'number' ? entry.ms : 0, ...(typeof entry.code === 'string' ? { code: entry.code as ToolErrorCode } : {}) };
}

/** The rows of earlier attempts, found by step and call. */
export class JournalIndex {
  private readonly rows = new Map<string, JournalEntry>();

  constructor(entries: readonly JournalEntry[]) {
    for (const e of entries) this.rows.set(`${e.step}:${e.call}`, e);
  }

  get(step: number, call: number): JournalEntry | undefined {
    return this.rows.get(`${step}:${call}`);
  }

  get size(): number {
    return this.rows.size;
  }
}
