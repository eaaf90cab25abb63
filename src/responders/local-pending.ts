import { isJsonObject, type JsonObject } from '../json.js';
import type { MessageRecord } from '../store/types.js';
import type { HistoryReader } from './history.js';

/** A question for a tool's missing arguments left unanswered this long is forgotten: the next message starts afresh. */
export const PENDING_TOOL_TTL_MS = 15 * 60_000;
/** Enough of the newest messages to find the one before the current (a redelivered message may sit beside newer ones). */
const SCAN = 4;

export interface PendingToolOptions {
  /** Whether any registered tool declares examples: without one, nothing is read. */
  active: () => boolean;
  ttlMs?: number;
  now?: () => number;
}

/**
 * The tool call the built-in model asked arguments for in its last reply to this sender
 * (`reply.data.pendingTool`), for the model to complete with the next message ("it's 12345").
 * It lives in the stored reply, not in a process, so whichever node runs the follow-up finds
 * it; the conversation's lane runs its messages one at a time, so the reply it reads is
 * final. Only the newest answered message counts, and only from the same sender: in a group,
 * someone else's message is not an answer to a question put to another.
 */
export function pendingToolReader(store: HistoryReader, options: PendingToolOptions) {
  const ttl = options.ttlMs ?? PENDING_TOOL_TTL_MS;
  const now = options.now ?? Date.now;
  return async (message: Pick<MessageRecord, 'id' | 'conversationId' | 'sender'>): Promise<JsonObject | undefined> => {
    if (!options.active()) return undefined;
    const records = await store.latest(message.conversationId, SCAN);
    const previous = records.filter((r) => r.id !== message.id && r.state === 'done' && r.reply !== null).at(-1);
    if (!previous || previous.sender !== message.sender) return undefined;
    if (now() - (previous.finishedAt ?? previous.updatedAt) > ttl) return undefined;
    const pending = previous.reply?.data?.pendingTool;
    return isJsonObject(pending) ? pending : undefined;
  };
}
