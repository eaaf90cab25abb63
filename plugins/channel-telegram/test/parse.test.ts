import { describe, expect, it } from 'vitest';
import type { Message, Update } from 'grammy/types';
import { parseUpdate, type BotIdentity } from '../parse.js';

const bot: BotIdentity = { id: 777, username: 'PincerBot' };
const alice = { id: 42, is_bot: false, first_name: 'Alice', last_name: 'Liddell', username: 'alice' };
const dm = { id: 42, type: 'private' as const, first_name: 'Alice' };
const group = { id: -1001234, type: 'supergroup' as const, title: 'Readers' };

function message(fields: Partial<Message> & { text?: string }, update_id = 1): Update {
  return { update_id, message: { message_id: 10, date: 1_700_000_000, chat: dm, from: alice, ...fields } as Message } as Update;
}

describe('parseUpdate', () => {
  it('takes a private message as a direct conversation', () => {
    const update = message({ text: 'hello there' }, 501);
    expect(parseUpdate(update, bot)).toEqual([
      {
        eventId: '501',
        messageId: '10',
        kind: 'message',
        conversation: { kind: 'direct', id: '42' },
        sender: { id: '42', name: 'Alice Liddell', username: 'alice', isBot: false },
        text: 'hello there',
        mentions: { bot: false },
        timestamp: 1_700_000_000_000,
        raw: update,
      },
    ]);
  });

  it('takes a group and a supergroup message as a group, with its title', () => {
    const [a] = parseUpdate(message({ chat: { id: -5, type: 'group', title: 'Old' }, text: 'x' }), bot);
    const [b] = parseUpdate(message({ chat: group, text: 'x' }), bot);
    expect(a?.conversation).toEqual({ kind: 'group', id: '-5', title: 'Old' });
    expect(b?.conversation).toEqual({ kind: 'group', id: '-1001234', title: 'Readers' });
  });

  it('takes a channel post as a channel, spoken by the channel itself', () => {
    const update = {
      update_id: 9,
      channel_post: { message_id: 3, date: 1, chat: { id: -100999, type: 'channel', title: 'News' }, text: 'post' },
    } as unknown as Update;
    const [event] = parseUpdate(update, bot);
    expect(event?.conversation).toEqual({ kind: 'channel', id: '-100999', title: 'News' });
    expect(event?.sender).toEqual({ id: '-100999', name: 'News', isBot: false });
  });

  it('strips an @mention of the bot, in any case, and counts it', () => {
    const text = 'hey @pincerbot what time is it';
    const [event] = parseUpdate(message({ chat: group, text, entities: [{ type: 'mention', offset: 4, length: 10 }] }), bot);
    expect(event?.text).toBe('hey what time is it');
    expect(event?.mentions).toEqual({ bot: true });
  });

  it('keeps a mention of someone else as text and evidence', () => {
    const [event] = parseUpdate(message({ chat: group, text: 'ask @bob', entities: [{ type: 'mention', offset: 4, length: 4 }] }), bot);
    expect(event?.text).toBe('ask @bob');
    expect(event?.mentions).toEqual({ bot: false, users: ['@bob'] });
  });

  it('counts a text_mention of the bot (a user without a username) by its id', () => {
    const text = 'Pincer, summarise this';
    const [event] = parseUpdate(
      message({ chat: group, text, entities: [{ type: 'text_mention', offset: 0, length: 6, user: { id: 777, is_bot: true, first_name: 'Pincer' } }] }),
      bot,
    );
    expect(event?.text).toBe('summarise this');
    expect(event?.mentions.bot).toBe(true);
  });

  it('lists a text_mention of another user by id, without a username', () => {
    const [event] = parseUpdate(
      message({ chat: group, text: 'thanks Bob', entities: [{ type: 'text_mention', offset: 7, length: 3, user: { id: 55, is_bot: false, first_name: 'Bob' } }] }),
      bot,
    );
    expect(event?.mentions).toEqual({ bot: false, users: ['55'] });
    expect(event?.text).toBe('thanks Bob');
  });

  it('counts entity offsets in UTF-16 units, as Telegram does', () => {
    const text = '😀😀 @PincerBot hi';
    const [event] = parseUpdate(message({ chat: group, text, entities: [{ type: 'mention', offset: 5, length: 10 }] }), bot);
    expect(event?.text).toBe('😀😀 hi');
    expect(event?.mentions.bot).toBe(true);
  });

  it('takes "/cmd@thisbot args" as the command "/cmd args" addressed to us', () => {
    const [event] = parseUpdate(message({ chat: group, text: '/echo@PincerBot hello', entities: [{ type: 'bot_command', offset: 0, length: 15 }] }), bot);
    expect(event?.kind).toBe('command');
    expect(event?.text).toBe('/echo hello');
    expect(event?.mentions.bot).toBe(true);
  });

  it('takes a bare "/cmd" as a command without a mention', () => {
    const [event] = parseUpdate(message({ text: '/help', entities: [{ type: 'bot_command', offset: 0, length: 5 }] }), bot);
    expect(event).toMatchObject({ kind: 'command', text: '/help', mentions: { bot: false } });
  });

  it('takes "/cmd@otherbot" as a plain message not addressed to us', () => {
    const [event] = parseUpdate(message({ chat: group, text: '/start@OtherBot go', entities: [{ type: 'bot_command', offset: 0, length: 14 }] }), bot);
    expect(event).toMatchObject({ kind: 'message', text: '/start@OtherBot go', mentions: { bot: false } });
  });

  it('gives a forum topic message its thread, and not a reply thread id elsewhere', () => {
    const [topic] = parseUpdate(message({ chat: group, text: 'in topic', message_thread_id: 17, is_topic_message: true }), bot);
    const [plain] = parseUpdate(message({ chat: group, text: 'reply thread', message_thread_id: 17 }), bot);
    expect(topic?.conversation.threadId).toBe('17');
    expect(plain?.conversation.threadId).toBeUndefined();
  });

  it('marks a reply to the bot, and a reply to someone else as a reply only', () => {
    const mine = { message_id: 8, date: 1, chat: group, from: { id: 777, is_bot: true, first_name: 'Pincer', username: 'PincerBot' }, text: 'earlier' } as Message;
    const theirs = { message_id: 9, date: 1, chat: group, from: alice, text: 'earlier' } as Message;
    const [toBot] = parseUpdate(message({ chat: group, text: 'and then?', reply_to_message: mine } as Partial<Message>), bot);
    const [toAlice] = parseUpdate(message({ chat: group, text: 'agreed', reply_to_message: theirs } as Partial<Message>), bot);
    expect(toBot?.mentions).toEqual({ bot: false, replyToBot: true });
    expect(toBot?.replyTo).toEqual({ messageId: '8', senderId: '777', isBot: true });
    expect(toAlice?.mentions).toEqual({ bot: false });
    expect(toAlice?.replyTo).toEqual({ messageId: '9', senderId: '42', isBot: false });
  });

  it('does not take the topic opening that every forum message points at as a reply', () => {
    const opening = { message_id: 17, date: 1, chat: group, from: { id: 777, is_bot: true, first_name: 'Pincer' }, forum_topic_created: { name: 'T', icon_color: 1 } } as Message;
    const [event] = parseUpdate(
      message({ chat: group, text: 'hi', message_thread_id: 17, is_topic_message: true, reply_to_message: opening } as Partial<Message>),
      bot,
    );
    expect(event?.replyTo).toBeUndefined();
    expect(event?.mentions.replyToBot).toBeUndefined();
  });

  it('reads a caption and its entities when the message is a photo', () => {
    const [event] = parseUpdate(message({ caption: '@PincerBot what is this', caption_entities: [{ type: 'mention', offset: 0, length: 10 }] } as Partial<Message>), bot);
    expect(event?.text).toBe('what is this');
    expect(event?.mentions.bot).toBe(true);
  });

  it('takes a button press as an action with its callback data', () => {
    const update = {
      update_id: 77,
      callback_query: { id: 'cb-1', from: alice, chat_instance: 'ci', data: 'vote:yes', message: { message_id: 30, date: 1_700_000_100, chat: group, text: 'Vote?' } },
    } as unknown as Update;
    expect(parseUpdate(update, bot)).toEqual([
      {
        eventId: '77',
        messageId: '30',
        kind: 'action',
        conversation: { kind: 'group', id: '-1001234', title: 'Readers' },
        sender: { id: '42', name: 'Alice Liddell', username: 'alice', isBot: false },
        text: 'vote:yes',
        mentions: { bot: true },
        action: { id: 'vote:yes' },
        timestamp: 1_700_000_100_000,
        raw: update,
      },
    ]);
  });

  it('takes a button on an inline message, whose chat is unknown, as the presser\'s direct conversation', () => {
    const update = { update_id: 78, callback_query: { id: 'cb-2', from: alice, chat_instance: 'ci', inline_message_id: 'im-1', data: 'more' } } as unknown as Update;
    const [event] = parseUpdate(update, bot);
    expect(event).toMatchObject({ kind: 'action', messageId: 'im-1', conversation: { kind: 'direct', id: '42' }, action: { id: 'more' } });
  });

  it('ignores edits and update kinds it does not take', () => {
    const edited = { update_id: 5, edited_message: { message_id: 10, date: 1, edit_date: 2, chat: dm, from: alice, text: 'fixed' } } as unknown as Update;
    const member = { update_id: 6, my_chat_member: { chat: group, from: alice, date: 1 } } as unknown as Update;
    expect(parseUpdate(edited, bot)).toEqual([]);
    expect(parseUpdate(member, bot)).toEqual([]);
  });

  it('marks a sender that is a bot', () => {
    const [event] = parseUpdate(message({ from: { id: 9, is_bot: true, first_name: 'Other', username: 'otherbot' }, chat: group, text: 'beep' }), bot);
    expect(event?.sender).toEqual({ id: '9', name: 'Other', username: 'otherbot', isBot: true });
  });
});
