/**
 * A Slack account's settings, read from `channels.slack` merged with the account's own keys,
 * checked on every call so a wrong value names its key instead of failing inside the SDK.
 */
import type { ChannelAccount, JsonValue } from 'pincer/plugin';

import { ChannelSettingsError } from 'pincer/channel-kit';
export { CHANNEL_ACCOUNT_INVALID } from 'pincer/channel-kit';

export class SlackSettingsError extends ChannelSettingsError {
  override readonly name = 'SlackSettingsError';
}

/** Slack truncates at 40,000 characters and asks clients to keep to 4,000. */
export const DEFAULT_TEXT_LIMIT = 4000;
/** A section block's text is at most 3,000 characters: the part that carries buttons. */
export const SECTION_TEXT_LIMIT = 3000;

export interface SlackSettings {
  /** The bot token, `xoxb-…`. */
  token: string;
  /** Checks the Events API's `X-Slack-Signature`; required for the webhook transport. */
  signingSecret: string | undefined;
  /** The app-level token, `xapp-…`, with connections:write; required for Socket Mode. */
  appToken: string | undefined;
  /** The Web API base, with its trailing slash: "https://slack.com/api/". */
  apiRoot: string;
  /** Answer a channel message in a thread under it rather than in the channel. */
  replyInThread: boolean;
  textLimit: number;
}

function str(config: Readonly<Record<string, JsonValue>>, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new SlackSettingsError(`${key} must be a string`);
  return value;
}

export function slackSettings(account: ChannelAccount): SlackSettings {
  const config = account.config;
  const where = `channels.slack.accounts.${account.id}`;
  const token = str(config, 'token');
  if (token === undefined) throw new SlackSettingsError(`${where}.token is not set (or SLACK_BOT_TOKEN for the default account)`);
  if (!/^xox[bp]-[\w-]+$/.test(token)) throw new SlackSettingsError(`${where}.token must be a bot token (xoxb-…), without "Bearer " or spaces`);
  const appToken = str(config, 'app_token');
  if (appToken !== undefined && !/^xapp-[\w-]+$/.test(appToken)) throw new SlackSettingsError(`${where}.app_token must be an app-level token (xapp-…), not the bot token`);
  const signingSecret = str(config, 'signing_secret');
  if (signingSecret !== undefined && !/^[0-9a-f]{16,128}$/i.test(signingSecret)) throw new SlackSettingsError(`${where}.signing_secret must be the app's Signing Secret (hex), not a token`);
  let apiRoot = str(config, 'api_root') ?? 'https://slack.com/api/';
  if (!/^https?:\/\/[^\s/]/.test(apiRoot)) throw new SlackSettingsError(`${where}.api_root must be an http(s) URL`);
  if (!apiRoot.endsWith('/')) apiRoot += '/';
  const replyInThread = config['reply_in_thread'] ?? false;
  if (typeof replyInThread !== 'boolean') throw new SlackSettingsError(`${where}.reply_in_thread must be true or false`);
  const limit = config['text_chunk_limit'] ?? DEFAULT_TEXT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 100 || limit > 40_000) throw new SlackSettingsError(`${where}.text_chunk_limit must be an integer from 100 to 40000`);
  return { token, signingSecret, appToken, apiRoot, replyInThread, textLimit: limit };
}
