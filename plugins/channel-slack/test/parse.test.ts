import { describe, expect, it } from 'vitest';
import { parseBlockActions, parseEventCallback, parseSlashCommand, plainText } from '../parse.js';

const bot = { userId: 'UBOT', botId: 'BBOT' };
const callback = (event: Record<string, unknown>) => ({ type: 'event_callback', event_id: 'Ev1', team_id: 'T1', event });

describe('slack payloads', () => {
  it('reads a DM as a direct message, its id the message itself (channel:ts)', () => {
    const [event] = parseEventCallback(callback({ type: 'message', channel: 'D1', user: 'U1', text: 'hi &amp; bye', ts: '1700000000.000100', channel_type: 'im' }), bot);
    expect(event).toMatchObject({ eventId: 'D1:1700000000.000100', messageId: '1700000000.000100', kind: 'message', conversation: { kind: 'direct', id: 'D1' }, sender: { id: 'U1', isBot: false }, text: 'hi & bye', mentions: { bot: false } });
    expect(event?.timestamp).toBe(1700000000000);
  });

  it('maps app_mention and message of one post to the same event id, the mention stripped', () => {
    const text = '<@UBOT> help me <@U2|ann>';
    const [mention] = parseEventCallback(callback({ type: 'app_mention', channel: 'C1', user: 'U1', text, ts: '1.000001' }), bot);
    const [message] = parseEventCallback(callback({ type: 'message', channel: 'C1', user: 'U1', text, ts: '1.000001', channel_type: 'channel' }), bot);
    expect(mention?.eventId).toBe(message?.eventId);
    expect(message).toMatchObject({ conversation: { kind: 'group', id: 'C1' }, text: 'help me @ann', mentions: { bot: true, users: ['U2'] } });
  });

  it('makes a thread its own conversation and a reply under the bot evidence of addressing it', () => {
    const [event] = parseEventCallback(callback({ type: 'message', channel: 'C1', user: 'U1', text: 'more', ts: '2.000001', thread_ts: '1.000001', parent_user_id: 'UBOT', channel_type: 'channel' }), bot);
    expect(event).toMatchObject({ conversation: { id: 'C1', threadId: '1.000001' }, mentions: { bot: false, replyToBot: true }, replyTo: { messageId: '1.000001', senderId: 'UBOT' } });
    // The thread's first message is the channel's, not the thread's.
    const [root] = parseEventCallback(callback({ type: 'message', channel: 'C1', user: 'U1', text: 'root', ts: '1.000001', thread_ts: '1.000001' }), bot);
    expect(root?.conversation).toEqual({ kind: 'group', id: 'C1' });
  });

  it("marks the bot's own posts and other bots'", () => {
    const [own] = parseEventCallback(callback({ type: 'message', channel: 'C1', user: 'UBOT', bot_id: 'BBOT', text: 'me', ts: '3.1' }), bot);
    const [other] = parseEventCallback(callback({ type: 'message', subtype: 'bot_message', channel: 'C1', bot_id: 'BOTHER', text: 'beep', ts: '3.2' }), bot);
    expect(own?.fromSelf).toBe(true);
    expect(other).toMatchObject({ sender: { id: 'BOTHER', isBot: true } });
    expect(other?.fromSelf).toBeUndefined();
  });

  it('takes the bot identity from the payload when none is known yet', () => {
    const payload = { ...callback({ type: 'message', channel: 'C1', user: 'U1', text: '<@UB2> hi', ts: '4.1' }), authorizations: [{ user_id: 'UB2', is_bot: true }] };
    expect(parseEventCallback(payload, undefined)[0]?.mentions.bot).toBe(true);
  });

  it('ignores edits, deletions, joins and other event types', () => {
    for (const event of [
      { type: 'message', subtype: 'message_changed', channel: 'C1', ts: '5.1', message: {} },
      { type: 'message', subtype: 'message_deleted', channel: 'C1', ts: '5.2' },
      { type: 'message', subtype: 'channel_join', channel: 'C1', user: 'U1', text: 'joined', ts: '5.3' },
      { type: 'reaction_added', user: 'U1' },
    ]) expect(parseEventCallback(callback(event), bot)).toEqual([]);
    expect(parseEventCallback({ type: 'url_verification', challenge: 'x' }, bot)).toEqual([]);
  });

  it('reads a button press as an action whose id is the button value', () => {
    const [press] = parseBlockActions(
      {
        type: 'block_actions',
        user: { id: 'U1' },
        channel: { id: 'D1' },
        container: { type: 'message', message_ts: '6.1', channel_id: 'D1' },
        actions: [{ type: 'button', action_id: 'pincer_button_0', value: '/order 42', text: { type: 'plain_text', text: 'Order' }, action_ts: '6.2' }],
      },
      {},
    );
    expect(press).toMatchObject({ kind: 'action', messageId: '6.1', conversation: { kind: 'direct', id: 'D1' }, text: '/order 42', action: { id: '/order 42', value: 'Order' }, mentions: { bot: true } });
  });

  it('reads a slash command as a command with its arguments', () => {
    const event = parseSlashCommand({ command: '/deploy', text: ' now ', channel_id: 'C1', user_id: 'U1', trigger_id: '7.1.abc' }, {});
    expect(event).toMatchObject({ kind: 'command', text: '/deploy now', eventId: 'command:7.1.abc', conversation: { id: 'C1' } });
    expect(parseSlashCommand({ command: '/x' }, {})).toBeUndefined();
  });

  it("turns Slack's markup into plain text", () => {
    expect(plainText('see <#C1|general>, <https://x.test|the site>, <https://y.test> and <!here>', 'UBOT').text).toBe('see #general, the site (https://x.test), https://y.test and @here');
  });
});
