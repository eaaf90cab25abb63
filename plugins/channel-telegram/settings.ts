/**
 * A Telegram account's settings, read from `channels.telegram` merged with the account's own
 * keys. Core validates only what core acts on; these keys are checked here, once per call,
 * so a wrong value names its key instead of failing inside the Bot API.
 */
import type { ChannelAccount, JsonValue, RateBucket } from 'pincer/plugin';

import { ChannelSettingsError } from 'pincer/channel-kit';
export { CHANNEL_ACCOUNT_INVALID } from 'pincer/channel-kit';

/** A setting that cannot work; `code` is Pincer's catalogued CHANNEL_ACCOUNT_INVALID. */
export class TelegramSettingsError extends ChannelSettingsError {
  override readonly name = 'TelegramSettingsError';
}

export interface Rate {
  limit: number;
  intervalMs: number;
}

export interface TelegramSettings {
  token: string;
  /** Without a trailing slash, as grammY wants it. */
  apiRoot: string;
  transport: 'polling' | 'webhook';
  /** Longest rendered part; Telegram takes 4,096 characters after parsing, 4,000 leaves room. */
  textLimit: number;
  /** getUpdates long-poll wait, seconds. */
  pollTimeout: number;
  webhookSecret: string | undefined;
  /** Where Telegram reaches this Pincer; with it, connect registers the webhook. */
  publicUrl: string | undefined;
  linkPreview: boolean;
  rate: { perChat: Rate; perGroup: Rate; global: Rate };
}

/** Telegram's documented guidance: about 1 message/s per chat, 20/min per group, 30/s overall. */
const DEFAULT_RATE = { perChat: { limit: 1, intervalMs: 1000 }, perGroup: { limit: 20, intervalMs: 60_000 }, global: { limit: 30, intervalMs: 1000 } };
const TOKEN = /^\d+:[A-Za-z0-9_-]+$/;
/** What setWebhook accepts as secret_token. */
const SECRET = /^[A-Za-z0-9_-]{1,256}$/;

const UNITS: Record<string, number> = { s: 1000, sec: 1000, second: 1000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000 };

/** "30/s", "20/min", "1/second": sends per interval. */
export function parseRate(text: string): Rate | undefined {
  const m = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/.exec(text);
  const intervalMs = m ? UNITS[m[2]!] : undefined;
  const limit = m ? Number(m[1]) : 0;
  return intervalMs !== undefined && limit >= 1 ? { limit, intervalMs } : undefined;
}

function str(config: Readonly<Record<string, JsonValue>>, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new TelegramSettingsError(`${key} must be a string`);
  return value;
}

function int(config: Readonly<Record<string, JsonValue>>, key: string, fallback: number, min: number, max: number): number {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TelegramSettingsError(`${key} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function telegramSettings(account: ChannelAccount): TelegramSettings {
  const config = account.config;
  const where = `channels.telegram.accounts.${account.id}`;
  const token = str(config, 'token');
  if (token === undefined || token === '') throw new TelegramSettingsError(`${where}.token is not set (or TELEGRAM_BOT_TOKEN for the default account)`);
  if (!TOKEN.test(token)) throw new TelegramSettingsError(`${where}.token is not a bot token ("<digits>:<letters>", from @BotFather)`);
  const apiRoot = (str(config, 'api_root') ?? 'https://api.telegram.org').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]/.test(apiRoot)) throw new TelegramSettingsError(`${where}.api_root must be an http(s) URL`);
  const transport = str(config, 'transport') ?? 'polling';
  if (transport !== 'polling' && transport !== 'webhook') throw new TelegramSettingsError(`${where}.transport must be "polling" or "webhook"`);
  const webhookSecret = str(config, 'webhook_secret');
  if (webhookSecret !== undefined && !SECRET.test(webhookSecret)) {
    throw new TelegramSettingsError(`${where}.webhook_secret must be 1-256 letters, digits, "_" or "-" (what Telegram accepts)`);
  }
  if (transport === 'webhook' && webhookSecret === undefined) {
    throw new TelegramSettingsError(`${where}.webhook_secret is required with transport webhook: it is how a call is known to come from Telegram`);
  }
  const publicUrl = str(config, 'public_url')?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https:\/\/[^\s/]/.test(publicUrl) && !/^http:\/\/(127\.0\.0\.1|localhost)[:/]?/.test(publicUrl)) {
    throw new TelegramSettingsError(`${where}.public_url must be an https URL (Telegram calls only https webhooks)`);
  }
  const linkPreview = config['link_preview'] ?? true;
  if (typeof linkPreview !== 'boolean') throw new TelegramSettingsError(`${where}.link_preview must be true or false`);
  return {
    token,
    apiRoot,
    transport,
    textLimit: int(config, 'text_chunk_limit', 4000, 64, 4096),
    pollTimeout: int(config, 'poll_timeout', 30, 0, 50),
    webhookSecret,
    publicUrl,
    linkPreview,
    rate: rates(config['rate'], where),
  };
}

function rates(value: JsonValue | undefined, where: string): TelegramSettings['rate'] {
  if (value === undefined || value === null) return DEFAULT_RATE;
  if (typeof value !== 'object' || Array.isArray(value)) throw new TelegramSettingsError(`${where}.rate must be an object (per_chat, per_group, global)`);
  const out = { ...DEFAULT_RATE };
  for (const [key, text] of Object.entries(value)) {
    const field = ({ per_chat: 'perChat', per_group: 'perGroup', global: 'global' } as const)[key];
    const rate = typeof text === 'string' ? parseRate(text) : undefined;
    if (field === undefined) throw new TelegramSettingsError(`${where}.rate.${key} is unknown (per_chat, per_group, global)`);
    if (rate === undefined) throw new TelegramSettingsError(`${where}.rate.${key} must read like "1/s" or "20/min"`);
    out[field] = rate;
  }
  return out;
}

/** The buckets one send passes: the account's global limit and its chat's. */
export function rateBuckets(settings: TelegramSettings, conversation: { kind: string; id: string }): RateBucket[] {
  const { perChat, perGroup, global } = settings.rate;
  const buckets: RateBucket[] = [{ key: 'global', ...global }, { key: `chat:${conversation.id}`, ...perChat }];
  // Groups and channels have both limits: a burst within the second and the minute's total.
  if (conversation.kind !== 'direct') buckets.push({ key: `group:${conversation.id}`, ...perGroup });
  return buckets;
}
