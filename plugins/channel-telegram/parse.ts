/**
 * Telegram updates into Pincer's inbound events. Pure: the bot's own identity (from getMe)
 * comes in, so mentions and commands addressed to this bot are told from those to others.
 *
 * Taken: `message` (private chats are direct, groups and supergroups group), `channel_post`
 * (channel) and `callback_query` (a button press: an action). Ignored on purpose:
 * `edited_message` and `edited_channel_post` (an edit does not ask again; answering edits
 * would answer one question twice) and every other update kind (membership, reactions).
 */
import type { InboundEvent, JsonValue } from 'pincer/plugin';
import type { CallbackQuery, Chat, Message, MessageEntity, Update, User } from 'grammy/types';

/** Who this bot is, from getMe. */
export interface BotIdentity {
  id: number;
  username: string;
}

type ConversationKind = InboundEvent['conversation']['kind'];

const KIND: Record<Chat['type'], ConversationKind> = { private: 'direct', group: 'group', supergroup: 'group', channel: 'channel' };

/** The events of one update: none for kinds Pincer does not take. */
export function parseUpdate(update: Update, bot: BotIdentity): InboundEvent[] {
  const eventId = String(update.update_id);
  const raw = update as unknown as JsonValue;
  const message = update.message ?? update.channel_post;
  if (message !== undefined) {
    const event = parseMessage(message, bot, eventId, raw);
    return event === undefined ? [] : [event];
  }
  if (update.callback_query !== undefined) return [parseCallback(update.callback_query, eventId, raw)];
  return [];
}

function senderOf(user: User | undefined, chat: Chat): InboundEvent['sender'] {
  if (user === undefined) {
    // A channel post (or a message sent on behalf of a chat) has no user: the chat speaks.
    return { id: String(chat.id), name: 'title' in chat ? chat.title : undefined, isBot: false };
  }
  const name = [user.first_name, user.last_name].filter((part) => part !== undefined && part !== '').join(' ');
  return {
    id: String(user.id),
    ...(name !== '' ? { name } : {}),
    ...(user.username !== undefined ? { username: user.username } : {}),
    isBot: user.is_bot,
  };
}

function conversationOf(message: Message): InboundEvent['conversation'] {
  const chat = message.chat;
  const title = 'title' in chat ? chat.title : undefined;
  return {
    kind: KIND[chat.type],
    id: String(chat.id),
    // In a forum, every message of a topic carries its thread id; elsewhere the id can mark a
    // reply thread, which is not a separate conversation.
    ...(message.is_topic_message === true && message.message_thread_id !== undefined ? { threadId: String(message.message_thread_id) } : {}),
    ...(title !== undefined ? { title } : {}),
  };
}

interface Cut {
  offset: number;
  length: number;
  replacement: string;
}

function parseMessage(message: Message, bot: BotIdentity, eventId: string, raw: JsonValue): InboundEvent | undefined {
  const text = message.text ?? message.caption ?? '';
  const entities: MessageEntity[] = message.entities ?? message.caption_entities ?? [];
  const botName = bot.username.toLowerCase();
  const cuts: Cut[] = [];
  const users: string[] = [];
  let mentionsBot = false;
  let kind: InboundEvent['kind'] = 'message';
  for (const entity of entities) {
    // Offsets and lengths count UTF-16 code units, as JavaScript strings do.
    const span = text.slice(entity.offset, entity.offset + entity.length);
    if (entity.type === 'mention') {
      if (span.slice(1).toLowerCase() === botName) {
        mentionsBot = true;
        cuts.push({ offset: entity.offset, length: entity.length, replacement: '' });
      } else users.push(span);
    } else if (entity.type === 'text_mention') {
      if (entity.user.id === bot.id) {
        mentionsBot = true;
        cuts.push({ offset: entity.offset, length: entity.length, replacement: '' });
      } else users.push(String(entity.user.id));
    } else if (entity.type === 'bot_command' && entity.offset === 0) {
      const at = span.indexOf('@');
      if (at < 0) kind = 'command';
      else if (span.slice(at + 1).toLowerCase() === botName) {
        kind = 'command';
        mentionsBot = true;
        cuts.push({ offset: entity.offset, length: entity.length, replacement: span.slice(0, at) });
      }
      // "/cmd@otherbot" is another bot's command: a plain message here, not addressed to us.
    }
  }
  const reply = message.reply_to_message;
  // In a forum topic, a message that replies to nothing still points at the topic's opening
  // service message; that is not a reply.
  const realReply = reply !== undefined && reply.forum_topic_created === undefined ? reply : undefined;
  const replyToBot = realReply?.from?.id === bot.id;
  return {
    eventId,
    messageId: String(message.message_id),
    kind,
    conversation: conversationOf(message),
    sender: senderOf(message.from, message.chat),
    text: applyCuts(text, cuts),
    mentions: { bot: mentionsBot, ...(replyToBot ? { replyToBot: true } : {}), ...(users.length > 0 ? { users } : {}) },
    ...(realReply !== undefined
      ? {
          replyTo: {
            messageId: String(realReply.message_id),
            ...(realReply.from !== undefined ? { senderId: String(realReply.from.id), isBot: realReply.from.is_bot } : {}),
          },
        }
      : {}),
    timestamp: message.date * 1000,
    raw,
  };
}

/** Remove (or rewrite) spans, last first so earlier offsets stay right; tidy the spaces left behind. */
function applyCuts(text: string, cuts: Cut[]): string {
  let out = text;
  for (const cut of [...cuts].sort((a, b) => b.offset - a.offset)) {
    out = out.slice(0, cut.offset) + cut.replacement + out.slice(cut.offset + cut.length);
  }
  if (cuts.length === 0) return text;
  return out
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/^[ \t,:]+/, '')
    .replace(/[ \t]+([,.!?])/g, '$1')
    .trim();
}

function parseCallback(query: CallbackQuery, eventId: string, raw: JsonValue): InboundEvent {
  const message = query.message;
  const data = query.data ?? query.game_short_name ?? '';
  const base = {
    eventId,
    kind: 'action' as const,
    sender: senderOf(query.from, { id: query.from.id, type: 'private', first_name: query.from.first_name }),
    text: data,
    // Only a bot puts buttons on a message, so pressing one addresses this bot.
    mentions: { bot: true },
    action: { id: data },
    timestamp: message !== undefined && message.date > 0 ? message.date * 1000 : Date.now(),
    raw,
  };
  if (message === undefined) {
    // A button on an inline-mode message: no chat is known, the presser is the conversation.
    return { ...base, messageId: query.inline_message_id ?? query.id, conversation: { kind: 'direct', id: String(query.from.id) } };
  }
  const chat = message.chat;
  return {
    ...base,
    messageId: String(message.message_id),
    conversation: {
      kind: KIND[chat.type],
      id: String(chat.id),
      ...('is_topic_message' in message && message.is_topic_message === true && message.message_thread_id !== undefined
        ? { threadId: String(message.message_thread_id) }
        : {}),
      ...('title' in chat && chat.title !== undefined ? { title: chat.title } : {}),
    },
  };
}
