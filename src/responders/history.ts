import type { ChatMessage } from '../models/types.js';
import type { MessageRecord } from '../store/types.js';

/** What history needs of the store: a conversation's newest messages (the message store's `latest`). */
export interface HistoryReader {
  latest(conversationId: string, limit: number): Promise<MessageRecord[]>;
}

/** How many of the newest stored messages are read to build a prompt; the token budget then trims them. */
export const SCAN_LIMIT = 200;

/**
 * Earlier turns of a conversation, oldest first, as chat messages: each answered message
 * and its reply. Newest turns are kept first until the budget (in approximate tokens:
 * words × 4/3) is spent, so a long conversation never overflows the model's context.
 */
export function conversationHistory(store: HistoryReader, budgetTokens: number) {
  return async (conversationId: string, currentId: string): Promise<ChatMessage[]> => {
    const records = await store.latest(conversationId, SCAN_LIMIT);
    return historyWindow(records, currentId, budgetTokens).flatMap(turnMessages);
  };
}

/**
 * The records (oldest first) whose turns fit the budget, newest kept first: the prompt's
 * history window. Agent memory summarises what falls before it.
 */
export function historyWindow(records: readonly MessageRecord[], currentId: string, budgetTokens: number): MessageRecord[] {
  const kept: MessageRecord[] = [];
  let spent = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i] as MessageRecord;
    if (r.id === currentId || r.state !== 'done') continue;
    const cost = turnMessages(r).reduce((n, m) => n + approximateTokens(m.content), 0);
    if (spent + cost > budgetTokens) break;
    spent += cost;
    kept.unshift(r);
  }
  return kept;
}

/**
 * A turn as chat messages. A message kept for context only (a group message nobody asked the
 * bot about) is a user turn without an answer.
 */
function turnMessages(r: MessageRecord): ChatMessage[] {
  return r.reply ? [{ role: 'user', content: r.text }, { role: 'assistant', content: r.reply.text }] : [{ role: 'user', content: contextLine(r) }];
}

/** Who said an unanswered group message, so the model can tell the speakers apart. */
function contextLine(r: MessageRecord): string {
  const sender = r.metadata?.channel;
  const name = sender && typeof sender === 'object' && !Array.isArray(sender) && sender.sender && typeof sender.sender === 'object' && !Array.isArray(sender.sender) ? sender.sender.name : undefined;
  return typeof name === 'string' ? `${name}: ${r.text}` : r.text;
}

export function approximateTokens(text: string): number {
  return Math.ceil((text.split(/\s+/).filter(Boolean).length * 4) / 3);
}
