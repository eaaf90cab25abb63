/**
 * A WhatsApp account's settings, read from `channels.whatsapp` merged with the account's own
 * keys. Core passes these through unchecked, so they are checked here, each refusal naming
 * its key (CHANNEL_ACCOUNT_INVALID).
 */
import type { ChannelAccount, JsonValue, RateBucket } from 'pincer/plugin';

import { ChannelSettingsError } from 'pincer/channel-kit';
export { CHANNEL_ACCOUNT_INVALID } from 'pincer/channel-kit';

export class WhatsAppSettingsError extends ChannelSettingsError {
  override readonly name = 'WhatsAppSettingsError';
}

export interface Rate {
  limit: number;
  intervalMs: number;
}

export interface WhatsAppSettings {
  /** Without a trailing slash. */
  graphApiRoot: string;
  apiVersion: string;
  phoneNumberId: string;
  accessToken: string;
  /** The app's secret: X-Hub-Signature-256 is an HMAC with it. Inbound needs it. */
  appSecret: string | undefined;
  /** What the GET handshake must carry as hub.verify_token. */
  verifyToken: string | undefined;
  /** Longest rendered part; Meta counts code points, the chunker UTF-16 units (so never more). */
  textLimit: number;
  timeoutMs: number;
  previewUrl: boolean;
  rate: { perRecipient: Rate; global: Rate };
}

/**
 * Meta's defaults: a business number sends 80 messages/s; one user may get about one message
 * every 6 s on average, with short bursts allowed (error 131056 past that). A sliding window
 * of 10 per minute keeps that average and lets a reply of several parts go out at once.
 */
const DEFAULT_RATE = { perRecipient: { limit: 10, intervalMs: 60_000 }, global: { limit: 80, intervalMs: 1000 } };
const VERSION = /^v\d{1,3}\.\d{1,2}$/;
const NUMERIC_ID = /^\d{1,32}$/;
const UNITS: Record<string, number> = { s: 1000, sec: 1000, second: 1000, m: 60_000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000 };

/** "80/s", "10/min": sends per interval. */
export function parseRate(text: string): Rate | undefined {
  const m = /^\s*(\d+)\s*\/\s*([a-z]+)\s*$/.exec(text);
  const intervalMs = m ? UNITS[m[2]!] : undefined;
  const limit = m ? Number(m[1]) : 0;
  return intervalMs !== undefined && limit >= 1 ? { limit, intervalMs } : undefined;
}

function str(config: Readonly<Record<string, JsonValue>>, key: string, where: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new WhatsAppSettingsError(`${where}.${key} must be a string`);
  return value === '' ? undefined : value;
}

function int(config: Readonly<Record<string, JsonValue>>, key: string, where: string, fallback: number, min: number, max: number): number {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new WhatsAppSettingsError(`${where}.${key} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function whatsappSettings(account: ChannelAccount): WhatsAppSettings {
  const config = account.config;
  const where = `channels.whatsapp.accounts.${account.id}`;
  const graphApiRoot = (str(config, 'graph_api_root', where) ?? 'https://graph.facebook.com').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]/.test(graphApiRoot)) throw new WhatsAppSettingsError(`${where}.graph_api_root must be an http(s) URL`);
  const apiVersion = str(config, 'api_version', where) ?? 'v21.0';
  if (!VERSION.test(apiVersion)) throw new WhatsAppSettingsError(`${where}.api_version must read like "v21.0"`);
  const phoneNumberId = typeof config.phone_number_id === 'number' ? String(config.phone_number_id) : str(config, 'phone_number_id', where);
  if (phoneNumberId === undefined) throw new WhatsAppSettingsError(`${where}.phone_number_id is not set (WhatsApp Manager → API Setup: "Phone number ID", not the phone number)`);
  if (!NUMERIC_ID.test(phoneNumberId)) throw new WhatsAppSettingsError(`${where}.phone_number_id must be the numeric id Meta shows, not the phone number itself`);
  const accessToken = str(config, 'access_token', where);
  if (accessToken === undefined) throw new WhatsAppSettingsError(`${where}.access_token is not set (or WHATSAPP_ACCESS_TOKEN for the default account)`);
  const previewUrl = config.link_preview ?? false;
  if (typeof previewUrl !== 'boolean') throw new WhatsAppSettingsError(`${where}.link_preview must be true or false`);
  return {
    graphApiRoot,
    apiVersion,
    phoneNumberId,
    accessToken,
    appSecret: str(config, 'app_secret', where),
    verifyToken: str(config, 'verify_token', where),
    textLimit: int(config, 'text_chunk_limit', where, 4096, 64, 4096),
    timeoutMs: int(config, 'timeout_ms', where, 15_000, 100, 120_000),
    previewUrl,
    rate: rates(config.rate, where),
  };
}

function rates(value: JsonValue | undefined, where: string): WhatsAppSettings['rate'] {
  if (value === undefined || value === null) return DEFAULT_RATE;
  if (typeof value !== 'object' || Array.isArray(value)) throw new WhatsAppSettingsError(`${where}.rate must be an object (per_recipient, global)`);
  const out = { ...DEFAULT_RATE };
  for (const [key, text] of Object.entries(value)) {
    const field = ({ per_recipient: 'perRecipient', global: 'global' } as const)[key];
    const rate = typeof text === 'string' ? parseRate(text) : undefined;
    if (field === undefined) throw new WhatsAppSettingsError(`${where}.rate.${key} is unknown (per_recipient, global)`);
    if (rate === undefined) throw new WhatsAppSettingsError(`${where}.rate.${key} must read like "80/s" or "10/min"`);
    out[field] = rate;
  }
  return out;
}

/** The buckets one send passes: the business number's throughput and the recipient's pair limit. */
export function rateBuckets(settings: WhatsAppSettings, to: string): RateBucket[] {
  return [
    { key: 'phone_number', ...settings.rate.global },
    { key: `to:${to}`, ...settings.rate.perRecipient },
  ];
}
