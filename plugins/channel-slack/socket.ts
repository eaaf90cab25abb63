/**
 * Socket Mode, for a bot without a public URL: Pincer dials out (apps.connections.open with
 * the app-level token), and Slack pushes the same payloads as the Events API over the socket.
 * Each envelope is acked only after its events are committed; an envelope not acked is
 * delivered again by Slack (retry_attempt), and the event ids dedupe it.
 *
 * This loop is the one owner of reconnecting: the SDK's own auto-reconnect is off, because its
 * reconnect runs detached, and a refused token then ends as an unhandled rejection (the
 * OpenClaw crash in #57512) and a second owner races the first (PR #38153).
 */
import { SocketModeClient } from '@slack/socket-mode';
import { backoffDelay, pause, type Backoff } from 'pincer/channel-kit';
import type { ChannelIngestIO, InboundEvent, JsonObject, PluginLogger } from 'pincer/plugin';
import { sdkLogger } from './client.js';
import { AUTH_ERRORS, platformError } from './errors.js';
import { parseBlockActions, parseEventCallback, parseSlashCommand, type BotIdentity } from './parse.js';

export interface SocketOptions {
  appToken: string;
  apiRoot: string;
  accountId: string;
  log: PluginLogger;
  backoff: Backoff;
  identity: () => Promise<BotIdentity | undefined>;
  /** Slack pings every few seconds; a socket silent for this long is dead (the SDK's default, 30 s). */
  serverPingTimeoutMs?: number;
}

interface Envelope {
  ack: (response?: Record<string, unknown>) => Promise<void>;
  envelope_id: string;
  type: string;
  body: unknown;
  retry_num?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An envelope's events; slash commands get an answer that shows the command in the channel. */
export function envelopeEvents(envelope: Pick<Envelope, 'type' | 'body'>, bot: BotIdentity | undefined): { events: InboundEvent[]; response?: Record<string, unknown> } {
  const body = envelope.body;
  if (!isObject(body)) return { events: [] };
  switch (envelope.type) {
    case 'events_api':
      return { events: parseEventCallback(body, bot) };
    case 'interactive':
      return { events: body['type'] === 'block_actions' ? parseBlockActions(body, body as JsonObject) : [] };
    case 'slash_commands': {
      const event = parseSlashCommand(body, body as JsonObject);
      return event ? { events: [event], response: { response_type: 'in_channel' } } : { events: [] };
    }
    default:
      return { events: [] };
  }
}

/**
 * Envelopes that arrive while a commit runs are committed together in the next one, in
 * arrival order: per-conversation order holds, and a burst costs one commit, not one each.
 */
class AckAfterCommit {
  private pending: Array<{ envelope: Envelope; events: InboundEvent[]; response?: Record<string, unknown> }> = [];
  private running = false;

  constructor(
    private readonly io: ChannelIngestIO,
    private readonly log: PluginLogger,
    private readonly accountId: string,
  ) {}

  push(envelope: Envelope, events: InboundEvent[], response?: Record<string, unknown>): void {
    this.pending.push({ envelope, events, ...(response ? { response } : {}) });
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.io.ingest(batch.flatMap((b) => b.events));
        } catch (err) {
          // Not acked: Slack sends these envelopes again, and the next commit may take them.
          this.log.warn('slack events not committed; Slack will deliver them again', { account: this.accountId, count: batch.length, error: (err as Error).message });
          continue;
        }
        for (const { envelope, response } of batch) {
          // A socket that closed meanwhile cannot ack: Slack redelivers, and the ids dedupe.
          await envelope.ack(response).catch(() => undefined);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

export async function socketLoop(options: SocketOptions, io: ChannelIngestIO, signal: AbortSignal): Promise<void> {
  const { log, accountId } = options;
  const committer = new AckAfterCommit(io, log, accountId);
  let failures = 0;
  while (!signal.aborted) {
    const client = new SocketModeClient({
      appToken: options.appToken,
      autoReconnectEnabled: false,
      serverPingTimeout: options.serverPingTimeoutMs ?? 30_000,
      clientOptions: { slackApiUrl: options.apiRoot, retryConfig: { retries: 0 }, timeout: 15_000 },
      logger: sdkLogger(log, 'socket-mode'),
    });
    const closed = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
    const stop = (): void => void client.disconnect().catch(() => undefined);
    signal.addEventListener('abort', stop, { once: true });
    // Known before the socket opens, so envelopes are parsed (and queued) in arrival order.
    const bot = await options.identity().catch(() => undefined);
    client.on('slack_event', (envelope: Envelope) => {
      const { events, response } = envelopeEvents(envelope, bot);
      committer.push(envelope, events, response);
    });
    try {
      await client.start();
      failures = 0;
      log.info('slack socket mode connected', { account: accountId });
      await closed;
      if (!signal.aborted) log.info('slack socket closed; reconnecting', { account: accountId });
    } catch (err) {
      const refused = platformError(err);
      if (refused !== undefined && AUTH_ERRORS.has(refused)) {
        io.fatal(`apps.connections.open refused the app-level token (${refused})`, `check channels.slack.accounts.${accountId}.app_token / SLACK_APP_TOKEN: an xapp- token with the connections:write scope, and Socket Mode on in the app's settings`);
        return;
      }
      if (!signal.aborted) log.warn('slack socket mode failed to connect', { account: accountId, error: err instanceof Error ? err.message : String(err), failures: failures + 1 });
      failures++;
    } finally {
      signal.removeEventListener('abort', stop);
      client.removeAllListeners('slack_event');
      await client.disconnect().catch(() => undefined);
    }
    if (signal.aborted) return;
    await pause(failures === 0 ? 250 : backoffDelay(failures - 1, options.backoff), signal);
  }
}
