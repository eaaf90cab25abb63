/**
 * The Matrix channel: Pincer's own client-server API client (every maintained Matrix SDK
 * needs Node 22), a /sync loop whose token is stored after each batch's commit, and sends
 * with a transaction id the homeserver dedupes, so a repeated send is one message.
 * Unencrypted rooms only.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ChannelAccount, ChannelSpec, ChannelTarget, JsonObject, PluginLogger, RenderedPart } from 'pincer/plugin';
import { MatrixClient, MatrixHttpError, seg } from './client.js';
import { classifyMatrixError } from './errors.js';
import { directRooms, roomIdOf, threadRootOf, type BotIdentity } from './parse.js';
import { DEFAULT_BACKOFF, pollLoop, sync, type AccountState, type Backoff } from './poll.js';
import { renderParts } from './render.js';
import { MAX_TEXT_LIMIT, matrixSettings, rateBuckets } from './settings.js';

export interface MatrixChannelOptions {
  log: PluginLogger;
  /** Sync-loop retry pacing; tests shorten it. */
  backoff?: Backoff;
}

interface Entry {
  key: string;
  state: AccountState;
  identity: Promise<BotIdentity> | undefined;
}

/** How long a typing notice lasts unless renewed or cleared (core renews it while a turn runs). */
const TYPING_MS = 30_000;

function content(part: RenderedPart): JsonObject {
  // The plain-text fallback core may send is a part without the html mark: body only.
  // An empty m.mentions: a link to a user in a reply does not ping them.
  if (part.extra?.['format'] !== 'html') return { msgtype: 'm.text', body: part.plain, 'm.mentions': {} };
  return { msgtype: 'm.text', body: part.plain, format: 'org.matrix.custom.html', formatted_body: part.text, 'm.mentions': {} };
}

/** Thread and reply relations: the first part answers the message, all parts stay in its thread. */
function relatesTo(target: ChannelTarget): JsonObject | undefined {
  // Core gives the reply target to the first part only.
  const replyTo = target.replyTo;
  const threadId = target.conversation.threadId;
  const thread = threadId === undefined ? undefined : threadRootOf(threadId);
  if (thread !== undefined) {
    return replyTo !== undefined
      ? { rel_type: 'm.thread', event_id: thread, is_falling_back: false, 'm.in_reply_to': { event_id: replyTo } }
      : { rel_type: 'm.thread', event_id: thread, is_falling_back: true, 'm.in_reply_to': { event_id: thread } };
  }
  return replyTo !== undefined ? { 'm.in_reply_to': { event_id: replyTo } } : undefined;
}

/**
 * The transaction id: the delivery's part id (stable across the outbox's retries), so the
 * homeserver answers a repeat with the first event instead of posting it twice.
 */
function txnId(part: RenderedPart, suffix = ''): string {
  const id = part.extra?.['webhookId'];
  const base = typeof id === 'string' && id !== '' ? id : `pincer-${randomUUID()}`;
  return `${base}${suffix}`;
}

export function createMatrixChannel(options: MatrixChannelOptions): ChannelSpec {
  const { log } = options;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const accounts = new Map<string, Entry>();

  const entryFor = (account: ChannelAccount): Entry => {
    const settings = matrixSettings(account);
    const key = `${settings.homeserver}\n${settings.accessToken}\n${settings.userId ?? ''}`;
    const known = accounts.get(account.id);
    if (known?.key === key) {
      known.state.settings = settings;
      return known;
    }
    known?.state.client.close();
    const state: AccountState = {
      client: new MatrixClient(settings.homeserver, settings.accessToken),
      settings,
      identity: undefined,
      direct: new Set(),
      members: new Map(),
      baseline: undefined,
      pendingJoins: new Map(),
      encryptedWarned: new Set(),
    };
    const entry: Entry = { key, state, identity: undefined };
    accounts.set(account.id, entry);
    return entry;
  };

  /** whoami (unless user_id is set), the display name and m.direct, once per client. */
  const identityOf = (entry: Entry, signal?: AbortSignal): Promise<BotIdentity> => {
    entry.identity ??= (async () => {
      const { client, settings } = entry.state;
      const who = await client.call('GET', '/account/whoami', { ...(signal ? { signal } : {}) });
      const userId = typeof who['user_id'] === 'string' ? who['user_id'] : settings.userId;
      if (userId === undefined) throw new Error('whoami answered without a user_id');
      if (settings.userId !== undefined && settings.userId !== userId) {
        throw new MatrixHttpError(401, 'M_UNKNOWN_TOKEN', `the access token belongs to ${userId}, not user_id ${settings.userId}`, undefined);
      }
      const profile = await client.call('GET', `/profile/${seg(userId)}`, { ...(signal ? { signal } : {}) }).catch(() => ({}) as JsonObject);
      const direct = await client.call('GET', `/user/${seg(userId)}/account_data/m.direct`, { ...(signal ? { signal } : {}) }).catch((err: unknown) => {
        if (err instanceof MatrixHttpError && err.errcode === 'M_NOT_FOUND') return {} as JsonObject;
        throw err;
      });
      for (const room of directRooms(direct)) entry.state.direct.add(room);
      const identity: BotIdentity = { userId, displayName: typeof profile['displayname'] === 'string' ? profile['displayname'] : undefined };
      entry.state.identity = identity;
      return identity;
    })().catch((err: unknown) => {
      entry.identity = undefined;
      throw err;
    });
    return entry.identity;
  };

  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw classifyMatrixError(err);
    }
  };

  const sendEvent = async (entry: Entry, roomId: string, txn: string, body: JsonObject, signal: AbortSignal): Promise<string> => {
    const answer = await call(() => entry.state.client.call('PUT', `/rooms/${seg(roomId)}/send/m.room.message/${seg(txn)}`, { body, signal, timeoutMs: 30_000 }));
    const eventId = answer['event_id'];
    if (typeof eventId !== 'string') throw classifyMatrixError(new Error(`the homeserver answered a send in ${roomId} without an event_id`));
    return eventId;
  };

  return {
    id: 'matrix',
    capabilities: { edit: true, typing: true, idempotentSend: 'native', textLimit: MAX_TEXT_LIMIT, transports: ['polling'] },

    async poll(account, io, signal) {
      const entry = entryFor(account);
      await pollLoop({ state: entry.state, identity: (s) => identityOf(entry, s), tokenKey: `channels.matrix.accounts.${account.id}.access_token`, log, backoff }, io, signal);
    },

    /**
     * Checks the token (whoami; a 401 is permanent and stops the account) and takes the token a
     * first run starts from, so the account is "polling" only once messages from now on are seen.
     */
    async connect(account, signal) {
      const entry = entryFor(account);
      const bot = await call(() => identityOf(entry, signal));
      entry.state.baseline = (await call(() => sync(entry.state, undefined, 0, signal))).next_batch;
      log.info('matrix account connected', { account: account.id, user: bot.userId });
    },

    async plan(markdown, target, account) {
      const settings = matrixSettings(account);
      return { parts: renderParts(markdown, settings.textLimit), buckets: rateBuckets(roomIdOf(target.conversation.id)) };
    },

    async send(part, target, account, signal) {
      const entry = entryFor(account);
      const rel = relatesTo(target);
      const body: JsonObject = { ...content(part), ...(rel !== undefined ? { 'm.relates_to': rel } : {}) };
      const eventId = await sendEvent(entry, roomIdOf(target.conversation.id), txnId(part), body, signal);
      return { platformMessageId: eventId };
    },

    /** An `m.replace` event; clients show the new content in place of the old. */
    async edit(platformMessageId, part, target, account, signal) {
      const entry = entryFor(account);
      const fresh = content(part);
      const body: JsonObject = {
        ...fresh,
        body: `* ${String(fresh['body'])}`,
        ...(fresh['formatted_body'] !== undefined ? { formatted_body: `* ${String(fresh['formatted_body'])}` } : {}),
        'm.new_content': fresh,
        'm.relates_to': { rel_type: 'm.replace', event_id: platformMessageId },
      };
      // The same edit to the same text repeats its transaction; a new text is a new edit.
      const digest = createHash('sha256').update(`${platformMessageId}\n${part.text}`).digest('base64url').slice(0, 16);
      await sendEvent(entry, roomIdOf(target.conversation.id), txnId(part, `.edit.${digest}`), body, signal);
      return { platformMessageId };
    },

    async typing(target, account, state, signal) {
      const entry = entryFor(account);
      const bot = await call(() => identityOf(entry, signal));
      const body: JsonObject = state === 'start' ? { typing: true, timeout: TYPING_MS } : { typing: false };
      await call(() => entry.state.client.call('PUT', `/rooms/${seg(roomIdOf(target.conversation.id))}/typing/${seg(bot.userId)}`, { body, signal }));
    },
  };
}
