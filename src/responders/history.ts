import type { ChatMessage } from '../models/types.js';
import type { MessageRecord } from '../store/types.js';

/** What history needs of the store: a conversation's newest messages (the message store's `latest`). */
export interface HistoryReader {
  latest(conversationId: string, limit: number): Promise<MessageRecord[]>;
}

/** How many of the newest stored messages are read to build a prompt; the token budget then trims them. */
const SCAN_LIMIT = 200;

/**
 * Earlier turns of a conversation, oldest first, as chat messages: each answered message
 * and its reply. Newest turns are kept first until the budget (in approximate tokens:
 * words × 4/3) is spent, so a long conversation never overflows the model's context.
 */
export function conversationHistory(store: HistoryReader, budgetTokens: number) {
  return async (conversationId: string, currentId: string): Promise<ChatMessage[]> => {
    const records = await store.latest(conversationId, SCAN_LIMIT);
    const turns: ChatMessage[][] = [];
    for (const r of records) {
      if (r.id === currentId || r.state !== 'done') continue;
      // A message kept for context only (a group message nobody asked the bot about) is a
      // user turn without an answer.
      turns.push(r.reply ? [{ role: 'user', content: r.text }, { role: 'assistant', content: r.reply.text }] : [{ role: 'user', content: contextLine(r) }]);
    }
    const kept: ChatMessage[][] = [];
    let spent = 0;
    for (const turn of turns.reverse()) {
      const cost = turn.reduce((n, m) => n + approximateTokens(m.content), 0);
      if (spent + cost > budgetTokens) break;
      spent += cost;
      kept.unshift(turn);
    }
    return kept.flat();
  };
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
