/**
 * Slack's payloads as Pincer events. The Events API and Socket Mode carry the same payloads:
 * `event_callback` (a `message` or `app_mention`), `block_actions` (a button pressed) and a
 * slash command. One mention arrives twice, as `app_mention` and as `message`, and a retry
 * arrives with a new delivery but the same message: the event id is `<channel>:<ts>`, the
 * message's own identity in Slack, so all of them map to one Pincer message.
 * Ignored on purpose: edits and deletions (`message_changed`, `message_deleted`), joins and
 * other subtypes, and every other event type.
 */
import type { InboundEvent, JsonObject, JsonValue } from 'pincer/plugin';

export interface BotIdentity {
  /** The bot user's id (U…): how it is mentioned. */
  userId: string;
  /** The bot's id (B…): what its own messages carry as bot_id. */
  botId?: string;
}

/** Subtypes that are someone saying something; every other subtype is bookkeeping. */
const SPOKEN = new Set([undefined, 'thread_broadcast', 'file_share', 'me_message', 'bot_message']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Slack's markup in a user's text as plain text; mentions of the bot removed, others listed. */
export function plainText(text: string, bot: string | undefined): { text: string; mentionsBot: boolean; users: string[] } {
  let mentionsBot = false;
  const users: string[] = [];
  const out = text
    .replace(/<([^<>]*)>/g, (_, inner: string) => {
      const [target = '', label] = inner.split('|', 2);
      if (target.startsWith('@')) {
        const id = target.slice(1);
        if (id === bot) {
          mentionsBot = true;
          return '';
        }
        users.push(id);
        return `@${label ?? id}`;
      }
      if (target.startsWith('#')) return `#${label ?? target.slice(1)}`;
      if (target.startsWith('!')) return `@${label ?? target.slice(1).split('^')[0]}`;
      return label !== undefined ? `${label} (${target})` : target;
    })
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  return { text: out.replace(/[ \t]{2,}/g, ' ').trim(), mentionsBot, users };
}

function conversationOf(channel: string, channelType: string | undefined, threadTs: string | undefined, ts: string): InboundEvent['conversation'] {
  // A DM's id starts with D; mpim is a group DM.
  const direct = channelType === 'im' || (channelType === undefined && channel.startsWith('D'));
  return { kind: direct ? 'direct' : 'group', id: channel, ...(threadTs !== undefined && threadTs !== ts ? { threadId: threadTs } : {}) };
}

const millis = (ts: string): number => Math.round(Number(ts) * 1000) || Date.now();

/** A `message` or `app_mention` event; undefined for anything Pincer does not take. */
export function parseMessageEvent(event: Record<string, unknown>, bot: BotIdentity | undefined, raw: JsonValue): InboundEvent | undefined {
  const type = event['type'];
  if (type !== 'message' && type !== 'app_mention') return undefined;
  const subtype = str(event['subtype']);
  if (!SPOKEN.has(subtype)) return undefined;
  const channel = str(event['channel']);
  const ts = str(event['ts']);
  const text = typeof event['text'] === 'string' ? event['text'] : '';
  if (channel === undefined || ts === undefined) return undefined;
  const botId = str(event['bot_id']);
  const userId = str(event['user']) ?? botId;
  if (userId === undefined) return undefined;
  const fromSelf = (bot !== undefined && userId === bot.userId) || (botId !== undefined && botId === bot?.botId);
  const plain = plainText(text, bot?.userId);
  const threadTs = str(event['thread_ts']);
  const parentUser = str(event['parent_user_id']);
  const body = plain.text;
  return {
    eventId: `${channel}:${ts}`,
    messageId: ts,
    kind: body.startsWith('/') ? 'command' : 'message',
    conversation: conversationOf(channel, str(event['channel_type']), threadTs, ts),
    sender: { id: userId, isBot: botId !== undefined || subtype === 'bot_message' },
    text: body,
    mentions: {
      bot: type === 'app_mention' || plain.mentionsBot,
      ...(parentUser !== undefined && bot !== undefined ? { replyToBot: parentUser === bot.userId } : {}),
      ...(plain.users.length > 0 ? { users: plain.users.slice(0, 100) } : {}),
    },
    ...(threadTs !== undefined && threadTs !== ts ? { replyTo: { messageId: threadTs, ...(parentUser !== undefined ? { senderId: parentUser } : {}) } } : {}),
    ...(fromSelf ? { fromSelf: true } : {}),
    timestamp: millis(ts),
    raw,
  };
}

/** The bot's identity as the payload states it (`authorizations`), when it does. */
export function identityIn(payload: Record<string, unknown>): BotIdentity | undefined {
  const auth = Array.isArray(payload['authorizations']) ? payload['authorizations'][0] : undefined;
  return isObject(auth) && auth['is_bot'] === true && typeof auth['user_id'] === 'string' ? { userId: auth['user_id'] } : undefined;
}

/** `block_actions`: each button pressed is an action whose id is the button's value. */
export function parseBlockActions(payload: Record<string, unknown>, raw: JsonValue): InboundEvent[] {
  const user = isObject(payload['user']) ? str(payload['user']['id']) : undefined;
  const channel = isObject(payload['channel']) ? str(payload['channel']['id']) : undefined;
  const container = isObject(payload['container']) ? payload['container'] : {};
  const message = isObject(payload['message']) ? payload['message'] : {};
  const messageTs = str(container['message_ts']) ?? str(message['ts']);
  if (user === undefined || channel === undefined || messageTs === undefined || !Array.isArray(payload['actions'])) return [];
  const threadTs = str(container['thread_ts']) ?? str(message['thread_ts']);
  const events: InboundEvent[] = [];
  for (const action of payload['actions']) {
    if (!isObject(action) || action['type'] !== 'button') continue;
    const value = str(action['value']) ?? str(action['action_id']);
    const actionTs = str(action['action_ts']);
    if (value === undefined || actionTs === undefined) continue;
    const label = isObject(action['text']) ? str(action['text']['text']) : undefined;
    events.push({
      eventId: `action:${channel}:${messageTs}:${user}:${actionTs}`,
      messageId: messageTs,
      kind: 'action',
      conversation: conversationOf(channel, channel.startsWith('D') ? 'im' : undefined, threadTs, messageTs),
      sender: { id: user, isBot: false },
      text: value,
      // Only the bot's own message has its buttons: pressing one addresses the bot.
      mentions: { bot: true, replyToBot: true },
      action: { id: value, ...(label !== undefined ? { value: label } : {}) },
      timestamp: millis(actionTs),
      raw,
    });
  }
  return events;
}

/** A slash command (`command=/deploy&text=now&…`, or the same fields in a Socket Mode envelope). */
export function parseSlashCommand(fields: Record<string, unknown>, raw: JsonValue): InboundEvent | undefined {
  const command = str(fields['command']);
  const channel = str(fields['channel_id']);
  const user = str(fields['user_id']);
  const trigger = str(fields['trigger_id']);
  if (command === undefined || channel === undefined || user === undefined || trigger === undefined) return undefined;
  const args = typeof fields['text'] === 'string' ? fields['text'].trim() : '';
  return {
    eventId: `command:${trigger}`,
    // A slash command is not a message in the channel: there is nothing to reply to.
    messageId: `command:${trigger}`,
    kind: 'command',
    conversation: conversationOf(channel, channel.startsWith('D') ? 'im' : undefined, undefined, ''),
    sender: { id: user, isBot: false },
    text: args === '' ? command : `${command} ${args}`,
    mentions: { bot: true },
    timestamp: Date.now(),
    raw,
  };
}

/** An Events API or Socket Mode `events_api` payload, as events. */
export function parseEventCallback(payload: Record<string, unknown>, bot: BotIdentity | undefined): InboundEvent[] {
  if (payload['type'] !== 'event_callback' || !isObject(payload['event'])) return [];
  const event = parseMessageEvent(payload['event'], identityIn(payload) ?? bot, payload as JsonObject);
  return event ? [event] : [];
}
