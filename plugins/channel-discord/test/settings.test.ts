import { describe, expect, it } from 'vitest';
import { discordSettings } from '../settings.js';

const account = (config: Record<string, unknown>) => ({ id: 'default', config: config as never });

describe('discord settings', () => {
  it('defaults: discord.com, 2,000 characters, guilds + messages + DMs + message content', () => {
    expect(discordSettings(account({ token: 'abc.def' }))).toEqual({ token: 'abc.def', apiRoot: 'https://discord.com/api', gatewayUrl: undefined, intents: 1 | 512 | 4096 | 32768, textLimit: 2000, slashCommands: true });
  });

  it('names the key that is wrong', () => {
    expect(() => discordSettings(account({}))).toThrow(/channels\.discord\.accounts\.default\.token is not set \(or DISCORD_TOKEN/);
    expect(() => discordSettings(account({ token: 'Bot abc' }))).toThrow(/without "Bot "/);
    expect(() => discordSettings(account({ token: 'a', api_root: 'ftp://x' }))).toThrow(/api_root/);
    expect(() => discordSettings(account({ token: 'a', gateway_url: 'http://x' }))).toThrow(/gateway_url/);
    expect(() => discordSettings(account({ token: 'a', intents: ['guilds', 'presence'] }))).toThrow(/intents: "presence"/);
    expect(() => discordSettings(account({ token: 'a', text_chunk_limit: 4000 }))).toThrow(/text_chunk_limit/);
    expect(() => discordSettings(account({ token: 'a', slash_commands: 'yes' }))).toThrow(/slash_commands must be true or false/);
    expect(() => discordSettings(account({ token: 'a', text_chunk_limit: 4000 }))).toThrow(expect.objectContaining({ code: 'CHANNEL_ACCOUNT_INVALID' }));
  });

  it('takes intents by name', () => {
    expect(discordSettings(account({ token: 'a', intents: ['direct_messages'] })).intents).toBe(4096);
  });
});
