/**
 * The Telegram channel: grammY's `Api` (the Bot API client alone, no Bot, no runner, no
 * retries: grammY's client makes each call once, and retrying is the delivery outbox's
 * decision), Pincer's own poll loop, webhook checks, rendering and the three sends. A reply's
 * buttons are an inline keyboard on its last part (keyboard.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Api } from 'grammy';
import type { ChannelAccount, ChannelSpec, ChannelTarget, JsonObject, PluginLogger, RenderedPart, WebhookVerdict } from 'pincer/plugin';
import type { InlineKeyboardMarkup, Update } from 'grammy/types';
import { apiSignal, createApi } from './client.js';
import { classifyTelegramError, isNotModified } from './errors.js';
import { inlineKeyboard, markupOf } from './keyboard.js';
import { parseUpdate, type BotIdentity } from './parse.js';
import { ALLOWED_UPDATES, DEFAULT_BACKOFF, pollLoop, type Backoff } from './poll.js';
import { BUTTONS_ONLY_TEXT, renderParts } from './render.js';
import { rateBuckets, telegramSettings, type TelegramSettings } from './settings.js';

export interface TelegramChannelOptions {
  log: PluginLogger;
  /** Poll-loop retry pacing; tests shorten it. */
  backoff?: Backoff;
}

interface Client {
  key: string;
  api: Api;
  identity: Promise<BotIdentity> | undefined;
}

const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

function header(headers: Record<string, string>, name: string): string | undefined {
  if (headers[name] !== undefined) return headers[name];
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Equal-length digests, so the compare takes the same time wherever the strings differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function isUpdate(value: unknown): value is Update {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Number.isSafeInteger((value as { update_id?: unknown }).update_id);
}

function threadOf(target: ChannelTarget): { message_thread_id: number } | Record<string, never> {
  const id = target.conversation.threadId;
  return id !== undefined && /^\d+$/.test(id) ? { message_thread_id: Number(id) } : {};
}

function parseModeOf(part: RenderedPart): { parse_mode: 'HTML' } | Record<string, never> {
  // A part without a parse mode is the plain-text fallback: sent as it is.
  return part.extra?.['parse_mode'] === 'HTML' ? { parse_mode: 'HTML' } : {};
}

function markupParam(part: RenderedPart): { reply_markup: InlineKeyboardMarkup } | Record<string, never> {
  // Kept on the plain-text fallback too: core drops only the parse mode from its extra.
  const markup = markupOf(part.extra);
  return markup === undefined ? {} : { reply_markup: markup };
}

function previewOf(settings: TelegramSettings): { link_preview_options: { is_disabled: true } } | Record<string, never> {
  return settings.linkPreview ? {} : { link_preview_options: { is_disabled: true } };
}

export function createTelegramChannel(options: TelegramChannelOptions): ChannelSpec {
  const { log } = options;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  // One client per account, made again when its token or API root changes.
  const clients = new Map<string, Client>();

  const clientFor = (account: ChannelAccount, settings: TelegramSettings): Client => {
    const key = `${settings.apiRoot}\n${settings.token}`;
    const known = clients.get(account.id);
    if (known?.key === key) return known;
    const api = createApi(settings.token, settings.apiRoot, settings.pollTimeout);
    const client: Client = { key, api, identity: undefined };
    clients.set(account.id, client);
    return client;
  };

  /** getMe, once per client; a failure is forgotten so the next call asks again. */
  const identityOf = (client: Client, signal?: AbortSignal): Promise<BotIdentity> => {
    client.identity ??= client.api.getMe(apiSignal(signal)).then(
      (me) => ({ id: me.id, username: me.username }),
      (err: unknown) => {
        client.identity = undefined;
        throw err;
      },
    );
    return client.identity;
  };

  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw classifyTelegramError(err);
    }
  };

  return {
    id: 'telegram',
    capabilities: { edit: true, typing: true, idempotentSend: 'none', textLimit: 4000, transports: ['polling', 'webhook'] },

    async poll(account, io, signal) {
      const settings = telegramSettings(account);
      const client = clientFor(account, settings);
      await pollLoop(
        {
          api: client.api,
          tokenKey: `channels.telegram.accounts.${account.id}.token`,
          pollTimeout: settings.pollTimeout,
          identity: (s) => identityOf(client, s),
          log,
          backoff,
        },
        io,
        signal,
      );
    },

    async webhook(request, account): Promise<WebhookVerdict> {
      const settings = telegramSettings(account);
      const given = header(request.headers, SECRET_HEADER);
      if (settings.webhookSecret === undefined || given === undefined || !sameSecret(given, settings.webhookSecret)) {
        return { accept: false, status: 401, code: 'CHANNEL_WEBHOOK_UNAUTHORIZED', message: 'the X-Telegram-Bot-Api-Secret-Token header is missing or wrong' };
      }
      let update: unknown;
      try {
        update = JSON.parse(request.body);
      } catch {
        return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'the body is not JSON' };
      }
      if (!isUpdate(update)) return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'update_id: the body is not a Telegram Update' };
      // The identity comes from connect's getMe; only a webhook call before connect asks for it.
      const bot = await identityOf(clientFor(account, settings));
      const events = parseUpdate(update, bot);
      // Telegram runs one method given in the webhook's answer: the button's spinner stops
      // without a call of our own.
      const query = update.callback_query;
      return query === undefined ? { accept: true, events } : { accept: true, events, body: { method: 'answerCallbackQuery', callback_query_id: query.id } };
    },

    /**
     * Checks the token (getMe) and, for transport webhook with a public_url, registers the
     * webhook. Polling registers nothing: if a webhook is still set, getUpdates answers 409
     * and the poll loop reports it rather than removing another deployment's webhook.
     */
    async connect(account, signal) {
      const settings = telegramSettings(account);
      const client = clientFor(account, settings);
      const bot = await call(() => identityOf(client, signal));
      log.info('telegram account connected', { account: account.id, bot: bot.username });
      if (settings.transport === 'webhook' && settings.publicUrl !== undefined) {
        const url = `${settings.publicUrl}/v1/channels/telegram/${encodeURIComponent(account.id)}/webhook`;
        await call(() =>
          client.api.setWebhook(url, { secret_token: settings.webhookSecret, allowed_updates: [...ALLOWED_UPDATES] }, apiSignal(signal)),
        );
        log.info('telegram webhook registered', { account: account.id, url });
      }
    },

    async plan(markdown, target, account, extras) {
      const settings = telegramSettings(account);
      const parts = renderParts(markdown, settings.textLimit);
      if (extras?.buttons !== undefined && extras.buttons.length > 0) {
        const { markup, skipped } = inlineKeyboard(extras.buttons);
        if (skipped.length > 0) log.warn('telegram buttons left off', { account: account.id, skipped: skipped.map((s) => `${s.value}: ${s.reason}`) });
        // Telegram refuses an empty message: buttons under a reply with no visible text get one.
        if (markup !== undefined && parts.length === 0) parts.push({ text: BUTTONS_ONLY_TEXT, plain: BUTTONS_ONLY_TEXT });
        const last = parts.at(-1);
        if (markup !== undefined && last !== undefined) last.extra = { ...(last.extra ?? {}), reply_markup: markup as unknown as JsonObject };
      }
      return { parts, buckets: rateBuckets(settings, target.conversation) };
    },

    async send(part, target, account, signal) {
      const settings = telegramSettings(account);
      const { api } = clientFor(account, settings);
      const replyTo = target.replyTo !== undefined && /^\d+$/.test(target.replyTo) ? Number(target.replyTo) : undefined;
      const sent = await call(() =>
        api.sendMessage(
          target.conversation.id,
          part.text,
          {
            ...parseModeOf(part),
            ...threadOf(target),
            ...(replyTo !== undefined ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
            ...markupParam(part),
            ...previewOf(settings),
          },
          apiSignal(signal),
        ),
      );
      return { platformMessageId: String(sent.message_id) };
    },

    async edit(platformMessageId, part, target, account, signal) {
      const settings = telegramSettings(account);
      const { api } = clientFor(account, settings);
      try {
        // An edit without reply_markup removes the message's keyboard, so each edit says the
        // part's own: a preview turned into the last part gets the buttons, any other none.
        await api.editMessageText(target.conversation.id, Number(platformMessageId), part.text, { ...parseModeOf(part), ...markupParam(part), ...previewOf(settings) }, apiSignal(signal));
      } catch (err) {
        // The text is already what we asked for: the edit has happened.
        if (!isNotModified(err)) throw classifyTelegramError(err);
      }
      return { platformMessageId };
    },

    /**
     * "start" shows "typing…" for about 5 s (core repeats it); "stop" does nothing: the Bot API
     * has no call to clear it, and a sent message clears it.
     */
    async typing(target, account, state, signal) {
      if (state === 'stop') return;
      const settings = telegramSettings(account);
      const { api } = clientFor(account, settings);
      await call(() => api.sendChatAction(target.conversation.id, 'typing', threadOf(target), apiSignal(signal)));
    },
  };
}

