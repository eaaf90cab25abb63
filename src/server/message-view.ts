import type { MessageRecord } from '../store/types.js';
import type { MessageView } from './schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function messageView(record: MessageRecord): MessageView {
  return {
    id: record.id,
    conversationId: record.conversationId,
    status: record.state,
    priority: record.priority,
    text: record.text,
    sender: record.sender,
    channel: record.channel,
    metadata: record.metadata,
    attempts: record.attempts,
    createdAt: iso(record.createdAt),
    updatedAt: iso(record.updatedAt),
    startedAt: isoOrNull(record.startedAt),
    finishedAt: isoOrNull(record.finishedAt),
    analysis: record.analysis,
    reply: record.reply,
    lastError: record.lastError,
  };
}
