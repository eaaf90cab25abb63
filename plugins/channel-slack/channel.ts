/**
 * The Slack channel: @slack/web-api for sends, edits and reconciling, events from the Events
 * API (the host's webhook route, signed with v0) or from Socket Mode (`transport: polling`).
 * A post carries a metadata stamp with the part's stable id, so a send whose answer was lost
 * is looked up in the conversation's history before it is sent again (idempotentSend
 * 'reconcile'). Slack has no typing indicator for bots.
 */
import type { ConversationsHistoryResponse } from '@slack/web-api';
import { ChannelError, DEFAULT_BACKOFF, settingsForCall, type Backoff } from 'pincer/channel-kit';
import type { ChannelAccount, ChannelSpec, ChannelTarget, JsonObject, PluginLogger, RenderedPart, WebhookRequest, WebhookVerdict } from 'pincer/plugin';
import { call, SlackClients } from './client.js';
import { identityIn, parseBlockActions, parseEventCallback, parseSlashCommand } from './parse.js';
import { renderParts } from './render.js';
import { checkSignature } from './signature.js';
import { slackSettings, SlackSettingsError, type SlackSettings } from './settings.js';
import { socketLoop } from './socket.js';

export interface SlackChannelOptions {
  log: PluginLogger;
  backoff?: Backoff;
  /** Socket Mode's dead-socket timeout (tests shorten it). */
  serverPingTimeoutMs?: number;
}

/** The metadata event type every Pincer post carries; its payload names the part. */
export const STAMP_EVENT = 'pincer_delivery';
/** chat.postMessage allows about one message a second per channel, with short bursts. */
const PER_CHANNEL = { limit: 3, intervalMs: 3000 };
/** How far before the plan a stamped post is looked for (clocks differ). */
const RECONCILE_SLACK_S = 120;
const RECONCILE_PAGES = 5;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const SLACK_TS = /^\d+\.\d+$/;

const settingsOrPermanent = (account: ChannelAccount): SlackSettings => settingsForCall(() => slackSettings(account));

/** The thread a part goes into: the conversation's, or (reply_in_thread) one under the message answered. */
function threadOf(target: ChannelTarget, settings: SlackSettings): string | undefined {
  if (target.conversation.threadId !== undefined) return target.conversation.threadId;
  if (settings.replyInThread && target.conversation.kind !== 'direct' && target.replyTo !== undefined && SLACK_TS.test(target.replyTo)) return target.replyTo;
  return undefined;
}

function partKey(part: RenderedPart): string | undefined {
  const key = part.extra?.['webhookId'];
  return typeof key === 'string' ? key : undefined;
}

function stamped(message: unknown, key: string): boolean {
  if (!isObject(message) || !isObject(message['metadata'])) return false;
  const { event_type: type, event_payload: payload } = message['metadata'];
  return type === STAMP_EVENT && isObject(payload) && payload['part'] === key;
}

export function createSlackChannel(options: SlackChannelOptions): ChannelSpec {
  const { log } = options;
  const clients = new SlackClients(log);

  /** A transport the settings cannot serve stops the account with the key to fix. */
  const checkTransport = (account: ChannelAccount, settings: SlackSettings): void => {
    const where = `channels.slack.accounts.${account.id}`;
    if (account.config['transport'] === 'polling') {
      if (settings.appToken === undefined) throw new ChannelError('permanent', `${where}.app_token is not set (or SLACK_APP_TOKEN): Socket Mode (transport: polling) needs the app-level token`);
    } else if (settings.signingSecret === undefined) {
      throw new ChannelError(
        'permanent',
        `${where}.signing_secret is not set (or SLACK_SIGNING_SECRET): the Events API (transport: webhook, the default) needs it; for Socket Mode set transport: polling and app_token`,
      );
    }
  };

  const webhook = async (request: WebhookRequest, account: ChannelAccount): Promise<WebhookVerdict> => {
    let settings: SlackSettings;
    try {
      settings = slackSettings(account);
    } catch (error) {
      // Slack did nothing wrong; a 5xx makes it deliver again once the operator has fixed it.
      if (error instanceof SlackSettingsError) return { accept: false, status: 500, code: error.code, message: error.message };
      throw error;
    }
    if (request.method !== 'POST') return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'Slack posts its events; this route takes POST only' };
    if (settings.signingSecret === undefined) {
      return { accept: false, status: 500, code: 'CHANNEL_ACCOUNT_INVALID', message: `channels.slack.accounts.${account.id}.signing_secret is not set (or SLACK_SIGNING_SECRET): signatures cannot be checked` };
    }
    const refused = checkSignature(request, settings.signingSecret);
    if (refused !== undefined) return refused;
    const retry = request.headers['x-slack-retry-num'];
    if (retry !== undefined) log.debug('slack delivered an event again', { account: account.id, retry, reason: request.headers['x-slack-retry-reason'] ?? '' });

    if ((request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(request.body);
      const payload = form.get('payload');
      if (payload !== null) {
        // Interactivity: a button pressed. Slack wants an empty 200 within 3 s.
        let parsed: unknown;
        try {
          parsed = JSON.parse(payload);
        } catch {
          return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'payload: not JSON' };
        }
        if (!isObject(parsed)) return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'payload: not an object' };
        return { accept: true, events: parsed['type'] === 'block_actions' ? parseBlockActions(parsed, parsed as JsonObject) : [], body: '' };
      }
      const fields = Object.fromEntries(form);
      const command = parseSlashCommand(fields, fields);
      if (command === undefined) return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'the form is neither an interaction (payload) nor a slash command (command, channel_id, user_id, trigger_id)' };
      // in_channel shows the user's command in the conversation; the reply follows it.
      return { accept: true, events: [command], body: { response_type: 'in_channel' } };
    }

    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'the body is not JSON' };
    }
    if (!isObject(body) || typeof body['type'] !== 'string') return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'type: the body is not a Slack Events API payload' };
    // Saving the Request URL: Slack expects its challenge back.
    if (body['type'] === 'url_verification') return { accept: true, events: [], body: typeof body['challenge'] === 'string' ? body['challenge'] : '' };
    if (body['type'] !== 'event_callback') return { accept: true, events: [] };
    const bot = (await clients.known(account)) ?? identityIn(body) ?? (await clients.identity(account, settings));
    return { accept: true, events: parseEventCallback(body, bot) };
  };

  return {
    id: 'slack',
    capabilities: { edit: true, typing: false, idempotentSend: 'reconcile', textLimit: 4000, transports: ['webhook', 'polling'] },

    webhook,

    async poll(account, io, signal) {
      const settings = slackSettings(account);
      checkTransport(account, settings);
      await socketLoop(
        {
          appToken: settings.appToken as string,
          apiRoot: settings.apiRoot,
          accountId: account.id,
          log,
          backoff: options.backoff ?? DEFAULT_BACKOFF,
          identity: () => clients.identity(account, settings),
          ...(options.serverPingTimeoutMs !== undefined ? { serverPingTimeoutMs: options.serverPingTimeoutMs } : {}),
        },
        io,
        signal,
      );
    },

    /** auth.test: a refused token stops the account here, named; the identity tells the bot's mentions. */
    async connect(account) {
      const settings = settingsOrPermanent(account);
      checkTransport(account, settings);
      try {
        const me = await clients.identity(account, settings);
        log.info('slack account connected', { account: account.id, bot: me.userId });
      } catch (err) {
        if (err instanceof ChannelError && err.errorClass === 'permanent') {
          throw new ChannelError('permanent', `${err.message}: check channels.slack.accounts.${account.id}.token / SLACK_BOT_TOKEN (an xoxb- bot token of an installed app)`);
        }
        throw err;
      }
    },

    plan(markdown, target, account, extras) {
      const settings = slackSettings(account);
      const plannedAt = Date.now();
      const parts = renderParts(markdown, settings.textLimit, extras?.buttons).map((p) => ({ ...p, extra: { ...(p.extra ?? {}), planned_at: plannedAt } }));
      return { parts, buckets: [{ key: `channel:${target.conversation.id}`, ...PER_CHANNEL }] };
    },

    async send(part, target, account) {
      const settings = settingsOrPermanent(account);
      const web = clients.web(account, settings);
      const key = partKey(part);
      const thread = threadOf(target, settings);
      const blocks = part.extra?.['blocks'];
      const sent = await call('chat.postMessage', () =>
        web.chat.postMessage({
          channel: target.conversation.id,
          text: part.text,
          mrkdwn: true,
          unfurl_links: false,
          unfurl_media: false,
          ...(thread !== undefined ? { thread_ts: thread } : {}),
          ...(Array.isArray(blocks) ? { blocks: blocks as never } : {}),
          ...(key !== undefined ? { metadata: { event_type: STAMP_EVENT, event_payload: { part: key } } } : {}),
        }),
      );
      return typeof sent.ts === 'string' ? { platformMessageId: sent.ts } : {};
    },

    async edit(platformMessageId, part, target, account) {
      const settings = settingsOrPermanent(account);
      const web = clients.web(account, settings);
      const blocks = part.extra?.['blocks'];
      await call('chat.update', () =>
        web.chat.update({ channel: target.conversation.id, ts: platformMessageId, text: part.text, ...(Array.isArray(blocks) ? { blocks: blocks as never } : {}) }),
      );
      return { platformMessageId };
    },

    /** Was this part posted? Its stamp is looked for among the posts since it was planned. */
    async reconcile(part, target, account) {
      const settings = settingsOrPermanent(account);
      const key = partKey(part);
      if (key === undefined) return { status: 'unresolved' };
      const web = clients.web(account, settings);
      const thread = threadOf(target, settings);
      const planned = part.extra?.['planned_at'];
      const oldest = typeof planned === 'number' ? String(Math.floor(planned / 1000) - RECONCILE_SLACK_S) : undefined;
      let cursor: string | undefined;
      for (let page = 0; page < RECONCILE_PAGES; page++) {
        const base = { channel: target.conversation.id, include_all_metadata: true, limit: 200, ...(oldest !== undefined ? { oldest } : {}), ...(cursor !== undefined ? { cursor } : {}) };
        const answer: ConversationsHistoryResponse = await call(thread !== undefined ? 'conversations.replies' : 'conversations.history', () =>
          thread !== undefined ? web.conversations.replies({ ...base, ts: thread }) : web.conversations.history(base),
        );
        const found = answer.messages?.find((m) => stamped(m, key));
        if (found) return typeof found.ts === 'string' ? { status: 'sent', platformMessageId: found.ts } : { status: 'sent' };
        cursor = answer.response_metadata?.next_cursor || undefined;
        if (!answer.has_more || cursor === undefined) return { status: 'not_sent' };
      }
      return { status: 'unresolved' };
    },
  };
}


