/**
 * Gateway MESSAGE_CREATE dispatches as Pincer's inbound events. A DM channel is a direct
 * conversation and a guild channel a group, both by channel id; a thread is a channel of its
 * own on Discord, so each thread is its own conversation. The event id and the message id
 * are both the message's snowflake (unique across Discord; the channel comes with the target).
 */
import type { GatewayMessageCreateDispatchData } from 'discord-api-types/v10';
import type { InboundEvent, JsonValue } from 'pincer/plugin';

export interface BotUser {
  id: string;
  username: string;
}

/** The raw payload kept with the message, bounded. */
function rawOf(message: GatewayMessageCreateDispatchData): JsonValue {
  return {
    id: message.id,
    channel_id: message.channel_id,
    ...(message.guild_id !== undefined ? { guild_id: message.guild_id } : {}),
    author: { id: message.author.id, username: message.author.username },
    content: message.content.slice(0, 2000),
    timestamp: message.timestamp,
  };
}

/** `<@id>` and `<@!id>` of the bot removed, and the spaces they leave. */
function stripMention(text: string, botId: string): string {
  return text
    .replace(new RegExp(`<@!?${botId}>`, 'g'), ' ')
    .replace(/[ \t]{2,}/g, ' ')
    .trim();
}

export function parseMessage(message: GatewayMessageCreateDispatchData, bot: BotUser): InboundEvent | undefined {
  // Only a user's own text: joins, pins and other system messages (type 0 default, 19 reply) are not.
  if (message.type !== 0 && message.type !== 19) return undefined;
  const mentioned = message.mentions.some((user) => user.id === bot.id) || new RegExp(`<@!?${bot.id}>`).test(message.content);
  const text = stripMention(message.content, bot.id);
  const reference = message.message_reference?.message_id;
  const repliedTo = message.referenced_message?.author.id;
  const author = message.author;
  const event: InboundEvent = {
    eventId: message.id,
    messageId: message.id,
    kind: text.startsWith('/') ? 'command' : 'message',
    conversation: message.guild_id === undefined ? { kind: 'direct', id: message.channel_id } : { kind: 'group', id: message.channel_id },
    sender: { id: author.id, ...(author.global_name ? { name: author.global_name } : {}), username: author.username, isBot: author.bot === true },
    text,
    mentions: {
      bot: mentioned,
      ...(repliedTo !== undefined ? { replyToBot: repliedTo === bot.id } : {}),
      users: message.mentions.filter((user) => user.id !== bot.id).map((user) => user.id),
    },
    timestamp: Date.parse(message.timestamp) || Date.now(),
    raw: rawOf(message),
  };
  if (reference !== undefined) event.replyTo = { messageId: reference, ...(repliedTo !== undefined ? { senderId: repliedTo, isBot: repliedTo === bot.id } : {}) };
  if (author.id === bot.id) event.fromSelf = true;
  return event;
}
