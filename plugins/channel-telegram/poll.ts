/**
 * Pincer's own getUpdates loop (not grammY's runner): an update is confirmed to Telegram, by
 * asking with a higher offset, only after `io.ingest` resolved, which is after the commit. A
 * crash before that leaves it unconfirmed, and Telegram sends it again.
 */
import type { Api } from 'grammy';
import type { ChannelIngestIO, PluginLogger } from 'pincer/plugin';
import type { Update } from 'grammy/types';
import { apiSignal } from './client.js';
import { telegramStatus } from './errors.js';
import { parseUpdate, type BotIdentity } from './parse.js';
import { backoffDelay, pause, type Backoff } from 'pincer/channel-kit';

export const ALLOWED_UPDATES = ['message', 'channel_post', 'callback_query'] as const;

export { DEFAULT_BACKOFF, type Backoff } from 'pincer/channel-kit';

export interface PollOptions {
  api: Api;
  /** Where the operator fixes a refused token: "channels.telegram.accounts.<id>.token". */
  tokenKey: string;
  pollTimeout: number;
  identity: (signal: AbortSignal) => Promise<BotIdentity>;
  log: PluginLogger;
  backoff: Backoff;
}

/** A refusal no retry can cure: reported once, and the loop ends. */
function fatalRefusal(err: unknown, io: ChannelIngestIO, tokenKey: string): boolean {
  const status = telegramStatus(err);
  if (status === 401) {
    io.fatal('the bot token was refused (401)', `check ${tokenKey} / TELEGRAM_BOT_TOKEN`);
    return true;
  }
  if (status === 409) {
    const what = err instanceof Error ? err.message : String(err);
    io.fatal(
      `Telegram refused getUpdates: another poller holds this token, or a webhook is set (409: ${what})`,
      'stop the other process polling with this token, or remove the webhook (deleteWebhook) or use transport: webhook',
    );
    return true;
  }
  return false;
}

export async function pollLoop(options: PollOptions, io: ChannelIngestIO, signal: AbortSignal): Promise<void> {
  const { api, log, backoff } = options;
  let failures = 0;
  let offset: number | undefined;
  let bot: BotIdentity | undefined;
  const failed = async (what: string, err: unknown): Promise<void> => {
    const waitMs = backoffDelay(failures++, backoff);
    log.warn(`telegram ${what} failed; trying again in ${waitMs} ms`, { error: err instanceof Error ? err.message : String(err) });
    await pause(waitMs, signal);
  };
  while (!signal.aborted) {
    let updates: Update[];
    let me: BotIdentity;
    try {
      me = bot ??= await options.identity(signal);
      updates = await api.getUpdates(
        { ...(offset !== undefined ? { offset } : {}), timeout: options.pollTimeout, limit: 100, allowed_updates: [...ALLOWED_UPDATES] },
        apiSignal(signal),
      );
    } catch (err) {
      if (signal.aborted) return;
      if (fatalRefusal(err, io, options.tokenKey)) return;
      await failed('getUpdates', err);
      continue;
    }
    const events = updates.flatMap((update) => parseUpdate(update, me));
    try {
      // An empty batch too: it tells Pincer the loop is alive.
      await io.ingest(events);
    } catch (err) {
      if (signal.aborted) return;
      // Not committed: the same offset is asked again, so Telegram sends the same updates.
      await failed('committing updates', err);
      continue;
    }
    failures = 0;
    const last = updates.at(-1);
    if (last !== undefined) offset = last.update_id + 1;
    for (const update of updates) if (update.callback_query !== undefined) answerCallback(api, update.callback_query.id, log);
  }
}

/** Stops the button's spinner in the user's app; a failure changes nothing else. */
export function answerCallback(api: Api, id: string, log: PluginLogger): void {
  api.answerCallbackQuery(id).catch((err: unknown) => {
    log.warn('telegram answerCallbackQuery failed', { error: err instanceof Error ? err.message : String(err) });
  });
}
