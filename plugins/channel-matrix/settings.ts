/**
 * A Matrix account's settings, read from `channels.matrix` merged with the account's own keys.
 * Core checks only the keys it acts on (policy, transport); these are checked here, once per
 * call, so a wrong value names its key instead of failing at the homeserver.
 */
import type { ChannelAccount, JsonValue, RateBucket } from 'pincer/plugin';

import { ChannelSettingsError } from 'pincer/channel-kit';
export { CHANNEL_ACCOUNT_INVALID } from 'pincer/channel-kit';

export class MatrixSettingsError extends ChannelSettingsError {
  override readonly name = 'MatrixSettingsError';
}

/** Which invites the bot accepts by itself: see README.md. */
export type AutoJoin = 'allowed' | 'all' | 'none';

export interface MatrixSettings {
  /** The homeserver's client-server API base, without a trailing slash. */
  homeserver: string;
  accessToken: string;
  /** The bot's MXID; without it, /account/whoami says. */
  userId: string | undefined;
  /** /sync long-poll wait, seconds. */
  pollTimeout: number;
  autoJoin: AutoJoin;
  /** Longest body and formatted_body of one event, in UTF-8 bytes as JSON encodes them. */
  textLimit: number;
  /** The policy keys core also reads; the plugin needs them to decide on invites. */
  dmPolicy: string;
  groupPolicy: string;
  allowFrom: readonly string[];
}

/**
 * An event may be 65,536 bytes in all (the spec's PDU limit). Body and formatted_body of at
 * most 32,000 bytes each leave room for the rest of the event (relations, signatures, ids).
 */
export const MAX_TEXT_LIMIT = 32_000;
const USER_ID = /^@[^:\s]+:[^\s]+$/;

function str(config: Readonly<Record<string, JsonValue>>, key: string, where: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new MatrixSettingsError(`${where}.${key} must be a string`);
  return value;
}

function int(config: Readonly<Record<string, JsonValue>>, key: string, where: string, fallback: number, min: number, max: number): number {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new MatrixSettingsError(`${where}.${key} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function autoJoinOf(value: JsonValue | undefined, where: string): AutoJoin {
  if (value === undefined || value === null) return 'allowed';
  if (value === true) return 'all';
  if (value === false) return 'none';
  if (value === 'allowed' || value === 'all' || value === 'none') return value;
  throw new MatrixSettingsError(`${where}.auto_join must be "allowed", "all", "none" (or true / false)`);
}

export function matrixSettings(account: ChannelAccount): MatrixSettings {
  const config = account.config;
  const where = `channels.matrix.accounts.${account.id}`;
  const homeserver = str(config, 'homeserver', where)?.replace(/\/+$/, '');
  if (homeserver === undefined || homeserver === '') throw new MatrixSettingsError(`${where}.homeserver is not set (the homeserver's base URL, e.g. https://matrix.example.org)`);
  if (!/^https?:\/\/[^\s/]/.test(homeserver)) throw new MatrixSettingsError(`${where}.homeserver must be an http(s) URL`);
  const accessToken = str(config, 'access_token', where);
  if (accessToken === undefined || accessToken === '') throw new MatrixSettingsError(`${where}.access_token is not set (or MATRIX_ACCESS_TOKEN for the default account)`);
  if (/\s/.test(accessToken)) throw new MatrixSettingsError(`${where}.access_token has white space in it`);
  const userId = str(config, 'user_id', where);
  if (userId !== undefined && !USER_ID.test(userId)) throw new MatrixSettingsError(`${where}.user_id must be a Matrix user id like "@bot:example.org"`);
  const transport = str(config, 'transport', where) ?? 'polling';
  if (transport !== 'polling') throw new MatrixSettingsError(`${where}.transport must be "polling" (Matrix clients /sync; there is no webhook)`);
  const allowFrom = config['allow_from'];
  return {
    homeserver,
    accessToken,
    userId,
    pollTimeout: int(config, 'poll_timeout', where, 30, 0, 60),
    autoJoin: autoJoinOf(config['auto_join'], where),
    textLimit: int(config, 'text_chunk_limit', where, MAX_TEXT_LIMIT, 1000, MAX_TEXT_LIMIT),
    dmPolicy: typeof config['dm_policy'] === 'string' ? config['dm_policy'] : 'pairing',
    groupPolicy: typeof config['group_policy'] === 'string' ? config['group_policy'] : 'allowlist',
    allowFrom: Array.isArray(allowFrom) ? allowFrom.filter((v): v is string => typeof v === 'string') : [],
  };
}

/**
 * Synapse limits each sender (rc_message: 0.2/s, burst 10 by default; admins usually exempt
 * bots). Pincer paces itself below what an exempted bot may do, per room and overall, and
 * waits out any 429 the homeserver still answers.
 */
export function rateBuckets(roomId: string): RateBucket[] {
  return [
    { key: 'global', limit: 50, intervalMs: 1000 },
    { key: `room:${roomId}`, limit: 5, intervalMs: 1000 },
  ];
}
