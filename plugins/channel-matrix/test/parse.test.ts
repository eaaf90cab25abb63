import { describe, expect, it } from 'vitest';
import { directRooms, invitesOf, memberChanges, parseSync, type BotIdentity, type MatrixEvent, type SyncResponse } from '../parse.js';

const bot: BotIdentity = { userId: '@pincer:example.org', displayName: 'Pincer Bot' };
const ROOM = '!abc:example.org';

function batch(events: MatrixEvent[], extra: Partial<SyncResponse> = {}): SyncResponse {
  return { next_batch: 's9', rooms: { join: { [ROOM]: { timeline: { events } } } }, ...extra };
}

function message(content: Record<string, unknown>, over: Partial<MatrixEvent> = {}): MatrixEvent {
  return { event_id: '$e1', type: 'm.room.message', sender: '@alice:example.org', origin_server_ts: 1_700_000_000_000, content: { msgtype: 'm.text', ...content } as MatrixEvent['content'], ...over };
}

const one = (events: MatrixEvent[], direct = false) => parseSync(batch(events), bot, () => direct);

describe('Matrix sync parsing', () => {
  it('turns a message into an event of its room, sigils left out of Pincer ids', () => {
    const [event] = one([message({ body: 'hello' })], true);
    expect(event).toMatchObject({
      eventId: '$e1',
      messageId: '$e1',
      kind: 'message',
      conversation: { kind: 'direct', id: 'abc:example.org' },
      sender: { id: '@alice:example.org', isBot: false },
      text: 'hello',
      mentions: { bot: false },
      fromSelf: false,
      timestamp: 1_700_000_000_000,
    });
    expect(one([message({ body: 'hi' })], false)[0]?.conversation.kind).toBe('group');
  });

  it("marks the bot's own messages, and m.notice senders as bots", () => {
    expect(one([message({ body: 'mine' }, { sender: bot.userId })])[0]?.fromSelf).toBe(true);
    expect(one([message({ msgtype: 'm.notice', body: 'beep' })])[0]?.sender.isBot).toBe(true);
  });

  it('skips edits, files, encrypted and state events', () => {
    const events = [
      message({ body: '* fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed' }, 'm.relates_to': { rel_type: 'm.replace', event_id: '$e0' } }),
      message({ msgtype: 'm.image', body: 'cat.png' }, { event_id: '$e2' }),
      { event_id: '$e3', type: 'm.room.encrypted', sender: '@alice:example.org', content: { algorithm: 'm.megolm.v1.aes-sha2' } },
      { event_id: '$e4', type: 'm.room.member', sender: '@alice:example.org', state_key: '@alice:example.org', content: { membership: 'join' } },
    ];
    expect(one(events)).toEqual([]);
  });

  it('reads mentions from m.mentions, pills and the plain body, stripping the bot from the text', () => {
    const byMentions = one([message({ body: 'Pincer Bot: what time is it?', 'm.mentions': { user_ids: [bot.userId, '@carol:example.org'] } })])[0]!;
    expect(byMentions.mentions).toEqual({ bot: true, users: ['@carol:example.org'] });
    expect(byMentions.text).toBe('what time is it?');
    const pill = one([message({ body: 'Pincer Bot: hi', format: 'org.matrix.custom.html', formatted_body: '<a href="https://matrix.to/#/@pincer:example.org">Pincer Bot</a>: hi' })])[0]!;
    expect(pill.mentions.bot).toBe(true);
    expect(pill.text).toBe('hi');
    expect(one([message({ body: 'pincer, help' })])[0]).toMatchObject({ mentions: { bot: true }, text: 'help' });
    expect(one([message({ body: 'ask @pincer:example.org please' })])[0]).toMatchObject({ mentions: { bot: true }, text: 'ask please' });
    expect(one([message({ body: 'nothing for the bot here' })])[0]?.mentions.bot).toBe(false);
  });

  it('takes replies (without their fallback quote) and threads', () => {
    const reply = one([message({ body: '> <@pincer:example.org> earlier\n\nand now', 'm.relates_to': { 'm.in_reply_to': { event_id: '$old' } } })])[0]!;
    expect(reply.replyTo).toEqual({ messageId: '$old' });
    expect(reply.text).toBe('and now');
    const threaded = one([message({ body: 'in thread', 'm.relates_to': { rel_type: 'm.thread', event_id: '$root', is_falling_back: true, 'm.in_reply_to': { event_id: '$last' } } })])[0]!;
    expect(threaded.conversation.threadId).toBe('root');
    // A falling-back reply inside a thread is not a reply.
    expect(threaded.replyTo).toBeUndefined();
  });

  it('finds invites for the bot, member counts and m.direct rooms', () => {
    const sync: SyncResponse = {
      next_batch: 's2',
      rooms: {
        invite: { '!inv:example.org': { invite_state: { events: [{ type: 'm.room.member', state_key: bot.userId, sender: '@alice:example.org', content: { membership: 'invite', is_direct: true } }] } } },
        join: { [ROOM]: { summary: { 'm.joined_member_count': 2 } }, '!g:example.org': { timeline: { events: [{ type: 'm.room.member', state_key: '@x:example.org', content: { membership: 'join' } }] } } },
      },
    };
    expect(invitesOf(sync, bot)).toEqual([{ roomId: '!inv:example.org', inviter: '@alice:example.org', isDirect: true }]);
    expect([...memberChanges(sync)]).toEqual([
      [ROOM, 2],
      ['!g:example.org', undefined],
    ]);
    expect([...directRooms({ '@alice:example.org': ['!a:x', '!b:x'], '@bob:example.org': ['!c:x'] })]).toEqual(['!a:x', '!b:x', '!c:x']);
    expect(directRooms('nonsense').size).toBe(0);
  });
});
