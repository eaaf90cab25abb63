/**
 * One @slack/web-api client per account, made again when its token or API root changes.
 * Its own retries are off (`retries: 0`) and a 429 is rejected rather than waited out
 * (`rejectRateLimitedCalls`): a write is made once per outbox attempt, and the outbox decides
 * what comes next. (OpenClaw's double posts, #22780, came from the SDK's default retries.)
 */
import { LogLevel, WebClient, type Logger } from '@slack/web-api';
import type { ChannelAccount, PluginLogger } from 'pincer/plugin';
import { classifySlackError } from './errors.js';
import type { BotIdentity } from './parse.js';
import type { SlackSettings } from './settings.js';

const TIMEOUT_MS = 15_000;

/** The SDK's logger interface over the plugin's; its chatter stays at debug. */
export function sdkLogger(log: PluginLogger, name: string): Logger {
  let level = LogLevel.INFO;
  const fields = (args: unknown[]) => ({ sdk: name, detail: args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ') });
  return {
    debug: () => {},
    info: (...args) => log.debug('slack sdk', fields(args)),
    warn: (...args) => log.debug('slack sdk warning', fields(args)),
    error: (...args) => log.warn('slack sdk error', fields(args)),
    setLevel: (l) => void (level = l),
    getLevel: () => level,
    setName: () => {},
  };
}

interface Client {
  key: string;
  web: WebClient;
  identity: Promise<BotIdentity> | undefined;
}

export class SlackClients {
  private readonly clients = new Map<string, Client>();

  constructor(private readonly log: PluginLogger) {}

  web(account: ChannelAccount, settings: SlackSettings): WebClient {
    return this.client(account, settings).web;
  }

  /** auth.test, once per client; a failure is forgotten so the next call asks again. */
  identity(account: ChannelAccount, settings: SlackSettings): Promise<BotIdentity> {
    const client = this.client(account, settings);
    client.identity ??= call('auth.test', () => client.web.auth.test()).then(
      (me) => ({ userId: String(me.user_id ?? ''), ...(typeof me.bot_id === 'string' ? { botId: me.bot_id } : {}) }),
      (err: unknown) => {
        client.identity = undefined;
        throw err;
      },
    );
    return client.identity;
  }

  /** The identity if auth.test already answered, without asking. */
  async known(account: ChannelAccount): Promise<BotIdentity | undefined> {
    const pending = this.clients.get(account.id)?.identity;
    return pending ? pending.catch(() => undefined) : undefined;
  }

  private client(account: ChannelAccount, settings: SlackSettings): Client {
    const key = `${settings.apiRoot}\n${settings.token}`;
    const known = this.clients.get(account.id);
    if (known?.key === key) return known;
    const web = new WebClient(settings.token, {
      slackApiUrl: settings.apiRoot,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: TIMEOUT_MS,
      logger: sdkLogger(this.log, 'web-api'),
    });
    const client: Client = { key, web, identity: undefined };
    this.clients.set(account.id, client);
    return client;
  }
}

/** A Web API call whose failure arrives classified (a ChannelError). */
export async function call<T>(method: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw classifySlackError(err, method);
  }
}
