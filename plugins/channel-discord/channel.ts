/**
 * The Discord channel: @discordjs/rest for sends, edits and typing, with its own retries off
 * (retries: 0) and every rate limit rejected rather than waited out (rejectOnRateLimit), so a
 * write is made once per outbox attempt and a 429 reaches the outbox with its retry_after.
 * Events come over the gateway (gateway.ts) in the `poll` slot: for Discord, the "polling"
 * transport is the gateway socket.
 */
import { createHash } from 'node:crypto';
import { REST } from '@discordjs/rest';
import type { RESTPostAPIChannelMessageJSONBody, RESTPostAPIChannelMessageResult } from 'discord-api-types/v10';
import type { ChannelAccount, ChannelSpec, ChannelTarget, PluginLogger, RenderedPart } from 'pincer/plugin';
import { classifyDiscordError, isUnauthorized } from './errors.js';
import { gatewayLoop } from './gateway.js';
import { renderParts } from './render.js';
import { discordSettings, type DiscordSettings } from './settings.js';

export interface DiscordChannelOptions {
  log: PluginLogger;
}

/** Discord's documented send limits: about 5 messages per 5 s per channel, 50 requests/s per bot. */
const PER_CHANNEL = { limit: 5, intervalMs: 5000 };
const GLOBAL = { limit: 50, intervalMs: 1000 };
const TIMEOUT_MS = 15_000;

/**
 * Discord's nonce is at most 25 characters; the delivery's stable part key is longer, so its
 * digest is used. The same part on every retry gives the same nonce, and with enforce_nonce
 * Discord answers a repeat with the message it already made.
 */
export function nonceOf(part: RenderedPart): string | undefined {
  const key = part.extra?.['webhookId'];
  return typeof key === 'string' ? createHash('sha256').update(key).digest('base64url').slice(0, 25) : undefined;
}

/** The part index from `<deliveryId>.<partIndex>`; only the first part is the reply. */
function partIndex(part: RenderedPart): number {
  const key = part.extra?.['webhookId'];
  const m = typeof key === 'string' ? /\.(\d+)$/.exec(key) : null;
  return m ? Number(m[1]) : 0;
}

function channelOf(target: ChannelTarget): string {
  // A thread is a channel of its own: its id is the conversation's.
  return target.conversation.threadId ?? target.conversation.id;
}

export function createDiscordChannel(options: DiscordChannelOptions): ChannelSpec {
  const { log } = options;
  const clients = new Map<string, { key: string; rest: REST }>();

  const restFor = (account: ChannelAccount, settings: DiscordSettings): REST => {
    const key = `${settings.apiRoot}\n${settings.token}`;
    const known = clients.get(account.id);
    if (known?.key === key) return known.rest;
    const rest = new REST({ api: settings.apiRoot, version: '10', retries: 0, rejectOnRateLimit: () => true, timeout: TIMEOUT_MS }).setToken(settings.token);
    clients.set(account.id, { key, rest });
    return rest;
  };

  const call = async <T>(account: ChannelAccount, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      // @discordjs/rest forgets the token after a 401; the next call makes a new client.
      if (isUnauthorized(err)) clients.delete(account.id);
      throw classifyDiscordError(err);
    }
  };

  return {
    id: 'discord',
    capabilities: { edit: true, typing: true, idempotentSend: 'native', textLimit: 2000, transports: ['polling'] },

    async poll(account, io, signal) {
      const settings = discordSettings(account);
      await gatewayLoop(
        { token: settings.token, intents: settings.intents, rest: restFor(account, settings), gatewayUrl: settings.gatewayUrl, accountId: account.id, log },
        io,
        signal,
      );
    },

    /** Checks the token (GET /users/@me): a refused one is reported before the gateway starts. */
    async connect(account, signal) {
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      const me = (await call(account, () => rest.get('/users/@me', { signal }))) as { id: string; username: string };
      log.info('discord account connected', { account: account.id, bot: me.username });
    },

    async plan(markdown, target, account) {
      const settings = discordSettings(account);
      const channel = channelOf(target);
      return { parts: renderParts(markdown, settings.textLimit), buckets: [{ key: 'global', ...GLOBAL }, { key: `channel:${channel}`, ...PER_CHANNEL }] };
    },

    async send(part, target, account, signal) {
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      const nonce = nonceOf(part);
      const body: RESTPostAPIChannelMessageJSONBody = {
        content: part.text,
        // A reply never pings anyone: the model's text may name users, roles or @everyone.
        allowed_mentions: { parse: [] },
        ...(nonce !== undefined ? { nonce, enforce_nonce: true } : {}),
        ...(target.replyTo !== undefined && partIndex(part) === 0 ? { message_reference: { message_id: target.replyTo, fail_if_not_exists: false } } : {}),
      };
      const sent = (await call(account, () => rest.post(`/channels/${channelOf(target)}/messages`, { body, signal }))) as RESTPostAPIChannelMessageResult;
      return { platformMessageId: sent.id };
    },

    async edit(platformMessageId, part, target, account, signal) {
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      await call(account, () =>
        rest.patch(`/channels/${channelOf(target)}/messages/${platformMessageId}`, { body: { content: part.text, allowed_mentions: { parse: [] } }, signal }),
      );
      return { platformMessageId };
    },

    /** "start" shows "typing…" for about 10 s (core repeats it); Discord has no call to clear it. */
    async typing(target, account, state, signal) {
      if (state === 'stop') return;
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      await call(account, () => rest.post(`/channels/${channelOf(target)}/typing`, { signal }));
    },
  };
}
