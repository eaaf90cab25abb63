import type { ChatHistoryItem } from 'node-llama-cpp';
import type { ChatMessage } from '../../types.js';

/**
 * Pincer's messages in node-llama-cpp's history: the chat wrapper (the GGUF's own template, or
 * node-llama-cpp's best guess when it has none) renders them. Consecutive user texts are
 * joined, since wrappers expect turns to alternate. The history ends with an empty model turn:
 * the one to generate.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const m of messages) {
    const last = history.at(-1);
    switch (m.role) {
      case 'system':
        history.push({ type: 'system', text: m.content });
        break;
      case 'assistant':
        // A turn that only asked for tools has no text; nothing of it is usable without tools.
        if (m.content) history.push({ type: 'model', response: [m.content] });
        break;
      case 'user':
      case 'tool': {
        const text = m.role === 'tool' ? `Result of ${m.toolName ?? 'a tool'}: ${m.content}` : m.content;
        if (last?.type === 'user') last.text += `\n\n${text}`;
        else history.push({ type: 'user', text });
        break;
      }
    }
  }
  history.push({ type: 'model', response: [] });
  return history;
}
