/**
 * A Discord account's settings, read from `channels.discord` merged with the account's own
 * keys, checked once per call so a wrong value names its key instead of failing inside
 * discord.js.
 */
import type { ChannelAccount, JsonValue } from 'pincer/plugin';

import { ChannelSettingsError } from 'pincer/channel-kit';
export { CHANNEL_ACCOUNT_INVALID } from 'pincer/channel-kit';

export class DiscordSettingsError extends ChannelSettingsError {
  override readonly name = 'DiscordSettingsError';
}

/** Gateway intent bits (discord-api-types GatewayIntentBits), by the names the config uses. */
export const INTENTS: Readonly<Record<string, number>> = {
  guilds: 1 << 0,
  guild_members: 1 << 1,
  guild_messages: 1 << 9,
  guild_message_reactions: 1 << 10,
  direct_messages: 1 << 12,
  direct_message_reactions: 1 << 13,
  message_content: 1 << 15,
};
const DEFAULT_INTENTS = ['guilds', 'guild_messages', 'direct_messages', 'message_content'];

export interface DiscordSettings {
  token: string;
  /** REST base without the version and without a trailing slash: "https://discord.com/api". */
  apiRoot: string;
  /** Overrides GET /gateway/bot's url (tests point it at the fake). */
  gatewayUrl: string | undefined;
  intents: number;
  textLimit: number;
  /** Register the bot's commands as the application's global slash commands at connect. */
  slashCommands: boolean;
}

function str(config: Readonly<Record<string, JsonValue>>, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new DiscordSettingsError(`${key} must be a string`);
  return value;
}

function intents(value: JsonValue | undefined, where: string): number {
  if (value === undefined || value === null) return DEFAULT_INTENTS.reduce((bits, name) => bits | INTENTS[name]!, 0);
  if (!Array.isArray(value) || value.length === 0) throw new DiscordSettingsError(`${where}.intents must be a list of intent names (${Object.keys(INTENTS).join(', ')})`);
  let bits = 0;
  for (const name of value) {
    const bit = typeof name === 'string' ? INTENTS[name] : undefined;
    if (bit === undefined) throw new DiscordSettingsError(`${where}.intents: ${JSON.stringify(name)} is not one of ${Object.keys(INTENTS).join(', ')}`);
    bits |= bit;
  }
  return bits;
}

export function discordSettings(account: ChannelAccount): DiscordSettings {
  const config = account.config;
  const where = `channels.discord.accounts.${account.id}`;
  const token = str(config, 'token');
  if (token === undefined || token === '') throw new DiscordSettingsError(`${where}.token is not set (or DISCORD_TOKEN for the default account)`);
  if (/\s/.test(token) || /^Bot /i.test(token)) throw new DiscordSettingsError(`${where}.token must be the bot token alone, without "Bot " or spaces`);
  const apiRoot = (str(config, 'api_root') ?? 'https://discord.com/api').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]/.test(apiRoot)) throw new DiscordSettingsError(`${where}.api_root must be an http(s) URL`);
  const gatewayUrl = str(config, 'gateway_url')?.replace(/\/+$/, '');
  if (gatewayUrl !== undefined && !/^wss?:\/\/[^\s/]/.test(gatewayUrl)) throw new DiscordSettingsError(`${where}.gateway_url must be a ws(s) URL`);
  const limit = config['text_chunk_limit'] ?? 2000;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 64 || limit > 2000) throw new DiscordSettingsError(`${where}.text_chunk_limit must be an integer from 64 to 2000`);
  const slash = config['slash_commands'] ?? true;
  if (typeof slash !== 'boolean') throw new DiscordSettingsError(`${where}.slash_commands must be true or false`);
  return { token, apiRoot, gatewayUrl, intents: intents(config['intents'], where), textLimit: limit, slashCommands: slash };
}
