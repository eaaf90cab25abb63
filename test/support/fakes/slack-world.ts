/**
 * The Slack fake's workspace: users, conversations (DMs, channels), messages with Slack's
 * `ts` ids, threads and metadata, and the payloads Slack builds from them (Events API
 * `event_callback`, `block_actions`, slash-command fields), written from api.slack.com's
 * reference. Shared by the Web API (slack.ts) and the two event transports (slack-events.ts).
 */
import { randomBytes } from 'node:crypto';

export const TEAM_ID = 'T0PINCER1';
export const APP_ID = 'A0PINCER1';
export const BOT_USER = 'U0PINCERBOT';
export const BOT_ID = 'B0PINCERBOT';

export interface SlackUser {
  id: string;
  name: string;
}

export interface SlackConversation {
  id: string;
  /** im: a DM with the bot; channel: public; group: private; mpim: a group DM. */
  type: 'im' | 'channel' | 'group' | 'mpim';
  name: string;
  members: Set<string>;
  archived: boolean;
  messages: SlackMessage[];
}

export interface SlackMessage {
  ts: string;
  channel: string;
  user: string;
  text: string;
  bot_id?: string;
  thread_ts?: string;
  reply_count?: number;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  edited?: { user: string; ts: string };
}

export class SlackWorld {
  readonly users = new Map<string, SlackUser>();
  readonly conversations = new Map<string, SlackConversation>();
  private lastTs = 0;
  private counter = 0;

  constructor(readonly now: () => number = Date.now) {}

  user(n: number): SlackUser {
    const id = `U${String(1000 + n).padStart(8, '0')}`;
    let user = this.users.get(id);
    if (!user) {
      user = { id, name: `user${n}` };
      this.users.set(id, user);
    }
    return user;
  }

  /** The DM between a user and the bot (its id starts with D, as Slack's do). */
  dm(user: SlackUser): SlackConversation {
    const id = `D${user.id.slice(1)}`;
    return this.conversation(id, 'im', user.name, [user.id, BOT_USER]);
  }

  channel(name: string, members: readonly SlackUser[], options: { bot?: boolean } = {}): SlackConversation {
    const id = `C${Buffer.from(name).toString('hex').toUpperCase().slice(0, 10).padEnd(10, '0')}`;
    return this.conversation(id, 'channel', name, [...members.map((m) => m.id), ...(options.bot === false ? [] : [BOT_USER])]);
  }

  private conversation(id: string, type: SlackConversation['type'], name: string, members: string[]): SlackConversation {
    let conversation = this.conversations.get(id);
    if (!conversation) {
      conversation = { id, type, name, members: new Set(members), archived: false, messages: [] };
      this.conversations.set(id, conversation);
    }
    return conversation;
  }

  /** Slack's message id: seconds.microseconds, unique and increasing within the workspace. */
  nextTs(): string {
    const micros = Math.max(this.now() * 1000, this.lastTs + 1);
    this.lastTs = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  add(conversation: SlackConversation, message: Omit<SlackMessage, 'ts' | 'channel'>): SlackMessage {
    const stored: SlackMessage = { ...message, ts: this.nextTs(), channel: conversation.id };
    conversation.messages.push(stored);
    if (stored.thread_ts !== undefined) {
      const parent = conversation.messages.find((m) => m.ts === stored.thread_ts);
      if (parent) {
        parent.thread_ts ??= parent.ts;
        parent.reply_count = (parent.reply_count ?? 0) + 1;
      }
    }
    return stored;
  }

  find(channel: string, ts: string): SlackMessage | undefined {
    return this.conversations.get(channel)?.messages.find((m) => m.ts === ts);
  }

  eventId(): string {
    return `Ev${(this.counter++).toString(36).toUpperCase().padStart(4, '0')}${randomBytes(4).toString('hex').toUpperCase()}`;
  }

  /** The `message` (and, for a mention in a channel, `app_mention`) payloads of one message. */
  eventCallbacks(message: SlackMessage): Record<string, unknown>[] {
    const conversation = this.conversations.get(message.channel);
    const parent = message.thread_ts !== undefined && message.thread_ts !== message.ts ? this.find(message.channel, message.thread_ts) : undefined;
    const event: Record<string, unknown> = {
      type: 'message',
      channel: message.channel,
      user: message.user,
      text: message.text,
      ts: message.ts,
      event_ts: message.ts,
      channel_type: conversation?.type ?? 'channel',
      ...(message.bot_id !== undefined ? { bot_id: message.bot_id } : { client_msg_id: randomBytes(8).toString('hex') }),
      ...(message.thread_ts !== undefined ? { thread_ts: message.thread_ts } : {}),
      ...(parent ? { parent_user_id: parent.user } : {}),
      ...(message.blocks ? { blocks: message.blocks } : {}),
    };
    const payloads = [this.callback(event)];
    if (conversation?.type !== 'im' && message.text.includes(`<@${BOT_USER}>`)) {
      const { channel_type: _type, client_msg_id: _id, ...mention } = event;
      payloads.push(this.callback({ ...mention, type: 'app_mention' }));
    }
    return payloads;
  }

  private callback(event: Record<string, unknown>): Record<string, unknown> {
    return {
      token: 'deprecated-verification-token',
      team_id: TEAM_ID,
      context_team_id: TEAM_ID,
      api_app_id: APP_ID,
      event,
      type: 'event_callback',
      event_id: this.eventId(),
      event_time: Math.floor(this.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: TEAM_ID, user_id: BOT_USER, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    };
  }

  /** A user pressing a button of one of the bot's messages. */
  blockActions(user: SlackUser, message: SlackMessage, actionId: string): Record<string, unknown> | undefined {
    const blocks = (message.blocks ?? []) as Array<{ type?: string; block_id?: string; elements?: Array<Record<string, unknown>> }>;
    for (const block of blocks) {
      const element = block.elements?.find((e) => e['action_id'] === actionId);
      if (!element) continue;
      return {
        type: 'block_actions',
        user: { id: user.id, username: user.name, name: user.name, team_id: TEAM_ID },
        api_app_id: APP_ID,
        token: 'deprecated-verification-token',
        container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false, ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}) },
        trigger_id: `${Date.now()}.${randomBytes(6).toString('hex')}`,
        team: { id: TEAM_ID, domain: 'pincer' },
        channel: { id: message.channel, name: this.conversations.get(message.channel)?.name ?? '' },
        message,
        response_url: 'https://hooks.slack.invalid/actions/T0/1/x',
        actions: [{ action_id: actionId, block_id: block.block_id ?? 'b', text: element['text'], value: element['value'], type: 'button', action_ts: this.nextTs() }],
      };
    }
    return undefined;
  }

  slashCommand(user: SlackUser, conversation: SlackConversation, command: string, text: string): Record<string, string> {
    return {
      token: 'deprecated-verification-token',
      team_id: TEAM_ID,
      team_domain: 'pincer',
      channel_id: conversation.id,
      channel_name: conversation.type === 'im' ? 'directmessage' : conversation.name,
      user_id: user.id,
      user_name: user.name,
      command,
      text,
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: 'https://hooks.slack.invalid/commands/T0/1/x',
      trigger_id: `${Date.now()}.${randomBytes(6).toString('hex')}`,
    };
  }
}
