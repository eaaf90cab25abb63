import { parseDuration, webhookKey, WEBHOOK_TOLERANCE_SECONDS } from 'pincer/channel-kit';
import type { ChannelAccount, JsonValue } from 'pincer/plugin';

/**
 * An account's settings, read from `channels.webhook.accounts.<id>` (channel-level keys are
 * their defaults). Core passes these keys through unchecked, so they are checked here, each
 * refusal naming the setting:
 *
 * | key | default | |
 * |---|---|---|
 * | `secret` | (inbound needs it) | "whsec_<base64>", or a passphrase of 16+ characters used as its UTF-8 bytes |
 * | `timestamp_tolerance` | 5 min | how far webhook-timestamp may be from now, either way |
 * | `callback_url` | (replies need it) | http(s) URL replies are POSTed to |
 * | `callback_secret` | `secret` | what replies are signed with |
 * | `timeout` | 10 s | one reply call, connect to last byte |
 * | `rate_per_second` | 50 | replies per second to the callback, across conversations |
 *
 * Durations are seconds as a number or strings like "500ms", as everywhere in Pincer's config.
 */

export class AccountSettingError extends Error {
  readonly code = 'CHANNEL_ACCOUNT_INVALID';
  constructor(
    readonly setting: string,
    problem: string,
  ) {
    super(`${setting}: ${problem}`);
    this.name = 'AccountSettingError';
  }
}

export interface InboundSettings {
  secret: string;
  toleranceSeconds: number;
}

export interface OutboundSettings {
  callbackUrl: URL;
  callbackSecret: string;
  timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RATE_PER_SECOND = 50;

const settingName = (account: ChannelAccount, key: string): string => `channels.webhook.accounts.${account.id}.${key}`;

function secretSetting(account: ChannelAccount, key: string, value: JsonValue | undefined): string {
  const name = settingName(account, key);
  if (typeof value !== 'string' || value === '') throw new AccountSettingError(name, 'not set (a "whsec_..." secret or a passphrase of 16+ characters)');
  try {
    webhookKey(value);
  } catch (error) {
    throw new AccountSettingError(name, (error as Error).message);
  }
  return value;
}

function durationSetting(account: ChannelAccount, key: string, fallbackMs: number): number {
  const value = account.config[key];
  if (value === undefined || value === null) return fallbackMs;
  const ms = parseDuration(value);
  if (ms === undefined) throw new AccountSettingError(settingName(account, key), 'expected a duration: seconds as a number, or a string like "500ms", "10s", "5m"');
  return ms;
}

export function inboundSettings(account: ChannelAccount): InboundSettings {
  const secret = secretSetting(account, 'secret', account.config.secret);
  const toleranceSeconds = Math.floor(durationSetting(account, 'timestamp_tolerance', WEBHOOK_TOLERANCE_SECONDS * 1000) / 1000);
  return { secret, toleranceSeconds };
}

export function outboundSettings(account: ChannelAccount): OutboundSettings {
  const raw = account.config.callback_url;
  const urlName = settingName(account, 'callback_url');
  if (typeof raw !== 'string' || raw === '') throw new AccountSettingError(urlName, 'not set (the URL replies are POSTed to)');
  let callbackUrl: URL;
  try {
    callbackUrl = new URL(raw);
  } catch {
    throw new AccountSettingError(urlName, `"${raw}" is not a URL`);
  }
  if (callbackUrl.protocol !== 'http:' && callbackUrl.protocol !== 'https:') throw new AccountSettingError(urlName, 'must be an http: or https: URL');
  const hasOwn = account.config.callback_secret !== undefined && account.config.callback_secret !== null;
  const callbackSecret = secretSetting(account, hasOwn ? 'callback_secret' : 'secret', hasOwn ? account.config.callback_secret : account.config.secret);
  const timeoutMs = durationSetting(account, 'timeout', DEFAULT_TIMEOUT_MS);
  if (timeoutMs <= 0) throw new AccountSettingError(settingName(account, 'timeout'), 'must be more than zero');
  return { callbackUrl, callbackSecret, timeoutMs };
}

export function ratePerSecond(account: ChannelAccount): number {
  const value = account.config.rate_per_second;
  if (value === undefined || value === null) return DEFAULT_RATE_PER_SECOND;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new AccountSettingError(settingName(account, 'rate_per_second'), 'expected a whole number of replies per second, 1 or more');
  }
  return value;
}
