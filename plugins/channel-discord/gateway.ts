/**
 * The gateway loop: @discordjs/ws's WebSocketManager (HELLO, IDENTIFY with the intents,
 * heartbeats with zombie detection, RESUME, RECONNECT and INVALID_SESSION are the library's)
 * with the session kept by Pincer. The library asks `retrieveSessionInfo` for the sequence it
 * heartbeats and resumes with; it gets the last sequence Pincer COMMITTED, not the last one
 * received, so a resume after a crash, a refused batch or a restart replays what was not yet
 * committed. The session ({session_id, sequence, resume_url}) is stored as the account's
 * cursor with each batch by io.ingest.
 *
 * Interactions (button presses, slash commands) come over the same socket and are answered
 * (acknowledged) only after their batch committed, within Discord's 3 s.
 */
import { DiscordAPIError, type REST } from '@discordjs/rest';
import { WebSocketManager, WebSocketShardEvents, type SessionInfo } from '@discordjs/ws';
import { GatewayDispatchEvents, type GatewayDispatchPayload } from 'discord-api-types/v10';
import type { ChannelIngestIO, InboundEvent, JsonValue, PluginLogger } from 'pincer/plugin';
import { ACK_WINDOW_MS, acknowledge, parseInteraction, snowflakeTime, type PendingAck } from './interactions.js';
import { parseMessage, type BotUser } from './parse.js';

/** How far this host's clock may be off Discord's before a replayed interaction is judged by it. */
const CLOCK_SKEW_MS = 10_000;

/** Close codes after which reconnecting cannot help: the operator must act. */
export const FATAL_CLOSE: Readonly<Record<number, { detail: string; hint: string }>> = {
  4004: { detail: 'Discord refused the bot token (gateway close 4004)', hint: 'set a valid bot token (Developer Portal > Bot > Reset Token) in channels.discord.accounts.<id>.token or DISCORD_TOKEN' },
  4010: { detail: 'Discord refused the shard (gateway close 4010)', hint: 'Pincer runs one shard; check shard settings' },
  4011: { detail: 'Discord requires sharding for this bot (gateway close 4011)', hint: 'the bot is in too many guilds for one shard, which Pincer does not support yet' },
  4012: { detail: 'Discord refused the gateway API version (gateway close 4012)', hint: 'upgrade Pincer' },
  4013: { detail: 'Discord refused the intents (gateway close 4013)', hint: 'check channels.discord.accounts.<id>.intents' },
  4014: { detail: 'Discord refused privileged intents (gateway close 4014)', hint: 'enable Message Content Intent (and any other privileged intent in intents) under Developer Portal > Bot > Privileged Gateway Intents' },
};

export interface StoredSession {
  session_id: string;
  sequence: number;
  resume_url: string;
}

export function isStoredSession(value: JsonValue | null): value is StoredSession & { [key: string]: JsonValue } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return typeof value['session_id'] === 'string' && typeof value['resume_url'] === 'string' && typeof value['sequence'] === 'number';
}

export interface GatewayOptions {
  token: string;
  intents: number;
  rest: REST;
  /** Replaces GET /gateway/bot's url. */
  gatewayUrl: string | undefined;
  accountId: string;
  log: PluginLogger;
}

interface Session {
  sessionId: string;
  resumeURL: string;
  /** The last sequence whose batch io.ingest committed. */
  committed: number;
  /** The highest sequence queued: a replay of anything up to it is dropped. */
  queued: number;
}

export async function gatewayLoop(options: GatewayOptions, io: ChannelIngestIO, signal: AbortSignal): Promise<void> {
  const { log, accountId } = options;
  // A resumed session has no READY to say who the bot is: ask first.
  let bot: BotUser;
  try {
    const me = (await options.rest.get('/users/@me', { signal })) as { id: string; username: string };
    bot = { id: me.id, username: me.username };
  } catch (err) {
    if (err instanceof DiscordAPIError && err.status === 401) {
      io.fatal(FATAL_CLOSE[4004]!.detail.replace('gateway close 4004', 'GET /users/@me answered 401'), FATAL_CLOSE[4004]!.hint);
      return;
    }
    throw err;
  }
  const stored = await io.cursor();
  let session: Session | null = isStoredSession(stored)
    ? { sessionId: stored.session_id, resumeURL: stored.resume_url, committed: stored.sequence, queued: stored.sequence }
    : null;
  // True once any session existed: a READY after that means it could not be resumed.
  let resumable = session !== null;
  let stopping = false;
  let fatal: { detail: string; hint: string } | undefined;
  const pending: Array<{ sessionId: string; seq: number; dispatch: GatewayDispatchPayload; receivedAt: number }> = [];
  const acking = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  const poke = (): void => {
    wake?.();
    wake = undefined;
  };

  const manager = new WebSocketManager({
    token: options.token,
    intents: options.intents,
    rest: options.rest,
    shardCount: 1,
    shardIds: [0],
    retrieveSessionInfo: (shardId): SessionInfo | null =>
      session === null ? null : { shardId, shardCount: 1, sessionId: session.sessionId, resumeURL: session.resumeURL, sequence: session.committed },
    updateSessionInfo: (_shardId, info) => {
      if (info === null) {
        // The library gave the session up (INVALID_SESSION, a close that forbids resuming);
        // at shutdown it is kept, so the next start resumes.
        if (!stopping) session = null;
        return;
      }
      // A new session (READY); a later call only moves the received sequence, which Pincer
      // does not take as committed.
      if (session === null || session.sessionId !== info.sessionId) session = { sessionId: info.sessionId, resumeURL: info.resumeURL, committed: 0, queued: 0 };
    },
  });
  if (options.gatewayUrl !== undefined) {
    const url = options.gatewayUrl;
    manager.fetchGatewayInformation = () =>
      Promise.resolve({ url, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 86_400_000, max_concurrency: 1 } });
  }

  manager.on(WebSocketShardEvents.Dispatch, (dispatch) => {
    if (dispatch.t === GatewayDispatchEvents.Ready) {
      bot = { id: dispatch.d.user.id, username: dispatch.d.user.username };
      if (resumable) {
        log.warn('discord gateway identified afresh: the session could not be resumed, events since the last commit may be missed', { account: accountId });
      } else {
        log.info('discord gateway identified', { account: accountId, bot: bot.username });
      }
      resumable = true;
    }
    const current = session;
    if (current === null || dispatch.s <= current.queued) return;
    current.queued = dispatch.s;
    pending.push({ sessionId: current.sessionId, seq: dispatch.s, dispatch, receivedAt: Date.now() });
    poke();
  });
  // Each heartbeat ACK is an empty ingest: the account's last poll time then says the socket is alive.
  let alive = false;
  manager.on(WebSocketShardEvents.HeartbeatComplete, () => {
    alive = true;
    poke();
  });
  manager.on(WebSocketShardEvents.Resumed, () => log.info('discord gateway resumed', { account: accountId, sequence: session?.committed ?? null }));
  manager.on(WebSocketShardEvents.Closed, (code) => {
    const known = FATAL_CLOSE[code];
    if (known !== undefined && !stopping) {
      fatal = known;
      poke();
    }
  });
  manager.on(WebSocketShardEvents.Debug, (detail) => log.debug('discord gateway', { account: accountId, detail }));
  manager.on(WebSocketShardEvents.Error, (err) => log.warn('discord gateway error', { account: accountId, error: err.message }));
  const onAbort = (): void => poke();
  signal.addEventListener('abort', onAbort);

  // connect() resolves on READY or RESUMED and does not settle on a fatal close: not awaited.
  // It rejects when GET /gateway/bot fails; the loop then throws and core restarts it.
  let failed: unknown;
  manager.connect().catch((err: unknown) => {
    failed = err ?? new Error('the gateway connection failed');
    poke();
  });

  let backoffMs = 250;
  try {
    while (!signal.aborted && fatal === undefined) {
      if (failed !== undefined) throw failed;
      if (pending.length === 0) {
        if (alive) {
          alive = false;
          await io.ingest([]).catch(() => undefined);
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const current = session;
      if (current === null) {
        // The session was given up; its messages still go in with the next session's cursor.
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const batch = pending.slice();
      // Sequences of a session given up mean nothing in the new one.
      const last = Math.max(current.committed, ...batch.filter((item) => item.sessionId === current.sessionId).map((item) => item.seq));
      const events: InboundEvent[] = [];
      const acks: PendingAck[] = [];
      const now = Date.now();
      for (const { dispatch, receivedAt } of batch) {
        if (dispatch.t === GatewayDispatchEvents.MessageCreate) {
          const event = parseMessage(dispatch.d, bot);
          if (event !== undefined) events.push(event);
        } else if (dispatch.t === GatewayDispatchEvents.InteractionCreate) {
          const parsed = parseInteraction(dispatch.d, bot, now);
          if (parsed === undefined) continue;
          // Past its 3 s the interaction cannot be acknowledged and the user was shown "This
          // interaction failed", so will try again: acting on it too would do it twice.
          // (A replay after a restart is judged by the id's time, with room for clock skew.)
          const age = Math.max(now - receivedAt, now - (snowflakeTime(parsed.ack.id) ?? now) - CLOCK_SKEW_MS);
          if (age >= ACK_WINDOW_MS) {
            log.info('discord interaction not committed within its 3 s, left off (the user saw "This interaction failed")', { account: accountId, interaction: parsed.ack.id });
            continue;
          }
          events.push(parsed.event);
          acks.push(parsed.ack);
        }
      }
      try {
        await io.ingest(events, { cursor: { session_id: current.sessionId, sequence: last, resume_url: current.resumeURL } });
        pending.splice(0, batch.length);
        if (session === current) current.committed = Math.max(current.committed, last);
        backoffMs = 250;
        for (const ack of acks) {
          const call = acknowledge(options.rest, ack).catch((err: unknown) => {
            const code = err instanceof DiscordAPIError ? err.code : undefined;
            // 10062: too late; 40060: acknowledged before (a replay of a committed batch).
            const level = code === 10062 || code === 40060 ? 'info' : 'warn';
            log[level]('discord interaction not acknowledged', { account: accountId, interaction: ack.id, error: err instanceof Error ? err.message : String(err) });
          });
          acking.add(call);
          void call.finally(() => acking.delete(call));
        }
      } catch (err) {
        // Not committed: the batch stays queued and is offered again; the stored sequence has
        // not moved, so a restart resumes before it. Its interactions are not acknowledged:
        // an ack says "Pincer has it", which is not true yet; without one Discord tells the
        // user the press failed once the 3 s pass, and the user can try again.
        log.warn('discord batch not committed, retrying', { account: accountId, error: err instanceof Error ? err.message : String(err) });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    }
    if (fatal !== undefined) io.fatal(fatal.detail, fatal.hint);
  } finally {
    signal.removeEventListener('abort', onAbort);
    stopping = true;
    await Promise.all(acking);
    // Not 1000/1001: those end the session on Discord's side, and the next start resumes it.
    await Promise.resolve(manager.destroy({ code: 4000, reason: 'pincer stopping' })).catch(() => undefined);
  }
}
