import type { ChannelConversation, ChannelSender } from '../plugins/sdk.js';

/**
 * How a platform's ids become Pincer's. Per-conversation order, history and the model's
 * context all key on the conversation id, so a forum topic is its own conversation.
 */
export function conversationIdOf(channel: string, account: string, conversation: Pick<ChannelConversation, 'id' | 'threadId'>): string {
  return `${channel}:${account}:${conversation.id}${conversation.threadId ? `:t${conversation.threadId}` : ''}`;
}

export function senderOf(channel: string, sender: Pick<ChannelSender, 'id'>): string {
  return `${channel}:${sender.id}`;
}

/** A redelivered update maps to the message it already is. */
export function idempotencyKeyOf(channel: string, account: string, eventId: string): string {
  return `ch:${channel}:${account}:${eventId}`;
}
