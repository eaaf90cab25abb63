/**
 * The Discord channel: @discordjs/rest for sends, edits and typing, with its own retries off
 * (retries: 0) and every rate limit rejected rather than waited out (rejectOnRateLimit), so a
 * write is made once per outbox attempt and a 429 reaches the outbox with its retry_after.
 * Events come over the gateway (gateway.ts) in the `poll` slot: for Discord, the "polling"
 * transport is the gateway socket. A reply's buttons are message components (components.ts);
 * the bot's commands are its slash commands (commands.ts), and a slash command's reply edits
 * the interaction's deferred response through its webhook (interactions.ts).
 */
import { createHash } from 'node:crypto';
import { DiscordAPIError, REST } from '@discordjs/rest';
import type { APIMessage, RESTPostAPIChannelMessageJSONBody, RESTPostAPIChannelMessageResult } from 'discord-api-types/v10';
import type { ChannelAccount, ChannelSpec, ChannelTarget, CommandInfo, JsonObject, PluginLogger, RenderedPart } from 'pincer/plugin';
import { commandsKey, registerCommands } from './commands.js';
import { buttonRows, componentsOf } from './components.js';
import { classifyDiscordError, isUnauthorized } from './errors.js';
import { gatewayLoop } from './gateway.js';
import { parseInteractionRef, tokenUsable, type InteractionRef } from './interactions.js';
import { renderParts } from './render.js';
import { discordSettings, type DiscordSettings } from './settings.js';

export interface DiscordChannelOptions {
  log: PluginLogger;
  /** The bot's commands (ctx.pincer.commands), registered as slash commands at connect. */
  commands?: () => Promise<CommandInfo[]>;
  /** How often a running account looks for changed commands (a plugin loaded late, reloaded). */
  commandSyncMs?: number;
}

/**
 * Answers of the interaction webhook that mean its token no longer works for this reply
 * (expired, never acknowledged, the response deleted): the reply goes as a channel message.
 */
const WEBHOOK_GONE = new Set([
  10008, // Unknown Message: no deferred response to edit
  10015, // Unknown Webhook
  10062, // Unknown interaction
  50027, // Invalid Webhook Token: past its 15 minutes
]);

function webhookGone(err: unknown): boolean {
  return err instanceof DiscordAPIError && (err.status === 401 || err.status === 404) && typeof err.code === 'number' && WEBHOOK_GONE.has(err.code);
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

/** Clients and what is known about an account last as long as its API root and token. */
function keyOf(settings: DiscordSettings): string {
  return `${settings.apiRoot}\n${settings.token}`;
}

function channelOf(target: ChannelTarget): string {
  // A thread is a channel of its own: its id is the conversation's.
  return target.conversation.threadId ?? target.conversation.id;
}

export function createDiscordChannel(options: DiscordChannelOptions): ChannelSpec {
  const { log } = options;
  const clients = new Map<string, { key: string; rest: REST }>();

  const restFor = (account: ChannelAccount, settings: DiscordSettings): REST => {
    const key = keyOf(settings);
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

  // The application id names the interaction webhook; it never changes for a token.
  const applications = new Map<string, string>();
  const applicationId = async (account: ChannelAccount, settings: DiscordSettings, signal?: AbortSignal): Promise<string> => {
    const key = keyOf(settings);
    const known = applications.get(key);
    if (known !== undefined) return known;
    const rest = restFor(account, settings);
    const app = (await call(account, () => rest.get('/oauth2/applications/@me', signal ? { signal } : {}))) as { id: string };
    applications.set(key, app.id);
    return app.id;
  };

  // The commands (their key) Discord was last found or made to have, per account.
  const registered = new Map<string, string>();
  const syncCommands = async (account: ChannelAccount, settings: DiscordSettings, signal: AbortSignal): Promise<void> => {
    if (options.commands === undefined || !settings.slashCommands) return;
    const list = await options.commands();
    const key = keyOf(settings);
    if (registered.get(key) === commandsKey(list)) return;
    const app = await applicationId(account, settings, signal);
    await registerCommands(restFor(account, settings), app, list, log, account.id, signal);
    registered.set(key, commandsKey(list));
  };

  /**
   * Commands are read from Pincer again while the gateway runs: a plugin that starts after this
   * one, or is reloaded, changes them. A check that finds them unchanged calls nobody.
   */
  const watchCommands = (account: ChannelAccount, settings: DiscordSettings, signal: AbortSignal): (() => void) => {
    const every = options.commandSyncMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const tick = (delay: number): void => {
      timer = setTimeout(() => {
        void syncCommands(account, settings, signal)
          .catch((err: unknown) => log.warn('discord slash commands not registered; trying again later', { account: account.id, error: err instanceof Error ? err.message : String(err) }))
          .finally(() => {
            // The loop may have ended (a fatal close) while a check was in flight.
            if (!stopped && !signal.aborted) tick(every);
          });
      }, delay);
      timer.unref();
    };
    tick(Math.min(5_000, every));
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  };

  /**
   * The reply to a slash command replaces its deferred "thinking…" response: PATCH of
   * @original, which is idempotent (a retry edits the same message again). Undefined when the
   * token cannot be used (unknown, expired, refused): the caller sends a channel message.
   */
  const editInteraction = async (ref: InteractionRef, messageId: string, body: Record<string, unknown>, account: ChannelAccount, settings: DiscordSettings, signal: AbortSignal): Promise<string | undefined> => {
    if (!tokenUsable(ref)) return undefined;
    const app = await applicationId(account, settings, signal);
    const rest = restFor(account, settings);
    try {
      const message = (await rest.patch(`/webhooks/${app}/${ref.token}/messages/${messageId}`, { body, auth: false, signal })) as APIMessage;
      return message.id;
    } catch (err) {
      if (webhookGone(err)) {
        log.info('discord interaction token refused, answering with a channel message', { account: account.id, interaction: ref.id, error: (err as DiscordAPIError).code });
        return undefined;
      }
      // Not isUnauthorized's client reset: this call carries no bot token.
      throw classifyDiscordError(err);
    }
  };

  return {
    id: 'discord',
    capabilities: { edit: true, typing: true, idempotentSend: 'native', textLimit: 2000, transports: ['polling'] },

    async poll(account, io, signal) {
      const settings = discordSettings(account);
      const unwatch = watchCommands(account, settings, signal);
      try {
        await gatewayLoop(
          { token: settings.token, intents: settings.intents, rest: restFor(account, settings), gatewayUrl: settings.gatewayUrl, accountId: account.id, log },
          io,
          signal,
        );
      } finally {
        unwatch();
      }
    },

    /**
     * Checks the token (GET /users/@me): a refused one is reported before the gateway starts.
     * Then the bot's commands become its slash commands; a failure there is logged and tried
     * again at the next connect, never a reason to stop the account.
     */
    async connect(account, signal) {
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      const me = (await call(account, () => rest.get('/users/@me', { signal }))) as { id: string; username: string };
      log.info('discord account connected', { account: account.id, bot: me.username });
      // Read from Discord at each connect: someone may have changed them in the meantime.
      registered.delete(keyOf(settings));
      try {
        await syncCommands(account, settings, signal);
      } catch (err) {
        log.warn('discord slash commands not registered; trying again at the next connect', { account: account.id, error: err instanceof Error ? err.message : String(err) });
      }
    },

    async plan(markdown, target, account, extras) {
      const settings = discordSettings(account);
      const channel = channelOf(target);
      const parts = renderParts(markdown, settings.textLimit);
      const last = parts.at(-1);
      if (extras?.buttons !== undefined && extras.buttons.length > 0 && last !== undefined) {
        const { rows, skipped } = buttonRows(extras.buttons);
        if (skipped.length > 0) log.warn('discord buttons left off', { account: account.id, skipped: skipped.map((s) => `${s.value}: ${s.reason}`) });
        if (rows.length > 0) last.extra = { ...(last.extra ?? {}), components: rows as unknown as JsonObject[] };
      }
      return { parts, buckets: [{ key: 'global', ...GLOBAL }, { key: `channel:${channel}`, ...PER_CHANNEL }] };
    },

    async send(part, target, account, signal) {
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      const components = componentsOf(part.extra);
      const first = partIndex(part) === 0;
      const interaction = first ? parseInteractionRef(target.replyTo) : undefined;
      if (interaction !== undefined) {
        const body = { content: part.text, allowed_mentions: { parse: [] }, components: components ?? [] };
        const edited = await editInteraction(interaction, '@original', body, account, settings, signal);
        if (edited !== undefined) return { platformMessageId: edited };
      }
      const nonce = nonceOf(part);
      const body: RESTPostAPIChannelMessageJSONBody = {
        content: part.text,
        // A reply never pings anyone: the model's text may name users, roles or @everyone.
        allowed_mentions: { parse: [] },
        ...(nonce !== undefined ? { nonce, enforce_nonce: true } : {}),
        ...(components !== undefined ? { components } : {}),
        // A slash command has no message of its own to reply to.
        ...(target.replyTo !== undefined && first && interaction === undefined ? { message_reference: { message_id: target.replyTo, fail_if_not_exists: false } } : {}),
      };
      const sent = (await call(account, () => rest.post(`/channels/${channelOf(target)}/messages`, { body, signal }))) as RESTPostAPIChannelMessageResult;
      return { platformMessageId: sent.id };
    },

    async edit(platformMessageId, part, target, account, signal) {
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      // An edit says every field it keeps: without components, the buttons would stay.
      const body = { content: part.text, allowed_mentions: { parse: [] }, components: componentsOf(part.extra) ?? [] };
      const interaction = parseInteractionRef(target.replyTo);
      if (interaction !== undefined && (await editInteraction(interaction, platformMessageId, body, account, settings, signal)) !== undefined) return { platformMessageId };
      await call(account, () => rest.patch(`/channels/${channelOf(target)}/messages/${platformMessageId}`, { body, signal }));
      return { platformMessageId };
    },

    /** "start" shows "typing…" for about 10 s (core repeats it); Discord has no call to clear it. */
    async typing(target, account, state, signal) {
      // A slash command's deferred response already shows "thinking…".
      if (state === 'stop' || parseInteractionRef(target.replyTo) !== undefined) return;
      const settings = discordSettings(account);
      const rest = restFor(account, settings);
      await call(account, () => rest.post(`/channels/${channelOf(target)}/typing`, { signal }));
    },
  };
}
