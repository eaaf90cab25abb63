/**
 * Pincer's own /sync loop. A batch's `next_batch` is handed to `io.ingest` as the cursor, so
 * it is stored after the batch's commit; the next /sync asks `since` it. A crash before the
 * commit asks from the old token again and the homeserver sends the same events, which core
 * dedupes by event id.
 *
 * With no stored cursor (the account's first run), the loop starts from the token `connect`
 * took with a /sync of timeout 0: what was said before the bot first ran is history, not
 * questions to answer now.
 */
import type { ChannelIngestIO, JsonValue, PluginLogger } from 'pincer/plugin';
import { seg, type MatrixClient } from './client.js';
import { isTokenRefused } from './errors.js';
import { MatrixHttpError } from './client.js';
import { directRooms, invitesOf, memberChanges, parseSync, roomsWithMessages, type BotIdentity, type Invite, type SyncResponse } from './parse.js';
import type { MatrixSettings } from './settings.js';
import { backoffDelay, pause, type Backoff } from 'pincer/channel-kit';

export { DEFAULT_BACKOFF, type Backoff } from 'pincer/channel-kit';

/** Timeline events per room per batch; a busier room shows `limited` and its older events are skipped. */
export const TIMELINE_LIMIT = 100;

/** What sync asks for: the messages and memberships of joined rooms, invites, and m.direct. */
export const SYNC_FILTER = JSON.stringify({
  presence: { types: [] },
  account_data: { types: ['m.direct'] },
  room: {
    timeline: { types: ['m.room.message', 'm.room.member', 'm.room.encrypted'], limit: TIMELINE_LIMIT },
    state: { types: ['m.room.member', 'm.room.name'], lazy_load_members: true },
    ephemeral: { types: [] },
    account_data: { types: [] },
  },
});

/** What the loop knows of the account between batches (and across reloads of its loop). */
export interface AccountState {
  client: MatrixClient;
  settings: MatrixSettings;
  identity: BotIdentity | undefined;
  direct: Set<string>;
  /** Members (joined and invited) per room; absent means not known yet. */
  members: Map<string, number>;
  /** The token connect took for a first run. */
  baseline: string | undefined;
  /** Invites the bot should take and has not managed to yet. */
  pendingJoins: Map<string, { invite: Invite; tries: number }>;
  /** Rooms already reported as encrypted. */
  encryptedWarned: Set<string>;
}

/**
 * The first run's sync only wants a token: one event per room and no state, so an account in
 * many rooms does not pay for a full initial sync it would throw away.
 */
const BASELINE_FILTER = JSON.stringify({
  presence: { types: [] },
  account_data: { types: [] },
  room: { timeline: { limit: 1 }, state: { types: [] }, ephemeral: { types: [] }, account_data: { types: [] } },
});

export async function sync(state: AccountState, since: string | undefined, timeoutSeconds: number, signal: AbortSignal): Promise<SyncResponse> {
  return state.client.call<SyncResponse & JsonValue>('GET', '/sync', {
    query: { ...(since !== undefined ? { since } : {}), timeout: String(timeoutSeconds * 1000), filter: since === undefined ? BASELINE_FILTER : SYNC_FILTER },
    signal,
    timeoutMs: (timeoutSeconds + 30) * 1000,
  });
}

/** Whether the bot takes an invite by itself (README.md, "Invites"). */
export function shouldJoin(invite: Invite, settings: MatrixSettings): boolean {
  if (settings.autoJoin === 'none') return false;
  if (settings.autoJoin === 'all') return true;
  if (settings.allowFrom.includes(invite.inviter) || settings.allowFrom.includes('*')) return true;
  // A DM invite under pairing is joined, so the stranger can be given a code.
  if (invite.isDirect) return settings.dmPolicy === 'open' || settings.dmPolicy === 'pairing';
  return settings.groupPolicy === 'open';
}

async function joinInvites(state: AccountState, log: PluginLogger, signal: AbortSignal): Promise<void> {
  for (const [roomId, pending] of state.pendingJoins) {
    try {
      await state.client.call('POST', `/join/${seg(roomId)}`, { body: {}, signal });
      state.pendingJoins.delete(roomId);
      if (pending.invite.isDirect) state.direct.add(roomId);
      log.info('matrix room joined on invite', { room: roomId, inviter: pending.invite.inviter });
    } catch (err) {
      if (signal.aborted) return;
      pending.tries++;
      const final = pending.tries >= 3 || (err instanceof MatrixHttpError && err.status >= 400 && err.status < 500 && err.status !== 429);
      log.warn(`matrix join of ${roomId} failed${final ? '; not trying again' : ''}`, { error: (err as Error).message });
      if (final) state.pendingJoins.delete(roomId);
    }
  }
}

/** Member counts of rooms with messages whose count is not known: a DM is a room of two. */
async function countMembers(state: AccountState, rooms: string[], log: PluginLogger, signal: AbortSignal): Promise<void> {
  for (const roomId of rooms) {
    if (state.members.has(roomId) || state.direct.has(roomId)) continue;
    try {
      const answer = await state.client.call('GET', `/rooms/${seg(roomId)}/joined_members`, { signal });
      const joined = answer['joined'];
      state.members.set(roomId, typeof joined === 'object' && joined !== null ? Object.keys(joined).length : 3);
    } catch (err) {
      if (signal.aborted) return;
      // Not known: taken as a group, asked again with the room's next message.
      log.warn(`matrix joined_members of ${roomId} failed`, { error: (err as Error).message });
    }
  }
}

export function isDirectRoom(state: AccountState, roomId: string): boolean {
  if (state.direct.has(roomId)) return true;
  const count = state.members.get(roomId);
  return count !== undefined && count <= 2;
}

/** Apply what a batch says about rooms (m.direct, membership) before its messages are read. */
function learn(state: AccountState, batch: SyncResponse, log: PluginLogger): void {
  for (const event of batch.account_data?.events ?? []) if (event.type === 'm.direct') state.direct = directRooms(event.content);
  for (const [roomId, count] of memberChanges(batch)) {
    if (count === undefined) state.members.delete(roomId);
    else state.members.set(roomId, count);
  }
  for (const [roomId, room] of Object.entries(batch.rooms?.join ?? {})) {
    if (room.timeline?.limited === true && (room.timeline.events ?? []).some((e) => e.type === 'm.room.message')) {
      log.warn(`matrix room ${roomId} had more than ${TIMELINE_LIMIT} new events in one batch; the older ones are skipped`);
    }
    if (state.encryptedWarned.has(roomId) || !(room.timeline?.events ?? []).some((e) => e.type === 'm.room.encrypted')) continue;
    state.encryptedWarned.add(roomId);
    log.warn(`matrix room ${roomId} is end-to-end encrypted; Pincer cannot read it (unencrypted rooms only)`);
  }
  for (const roomId of Object.keys(batch.rooms?.leave ?? {})) {
    state.members.delete(roomId);
    state.pendingJoins.delete(roomId);
  }
}

export interface PollOptions {
  state: AccountState;
  identity: (signal: AbortSignal) => Promise<BotIdentity>;
  tokenKey: string;
  log: PluginLogger;
  backoff: Backoff;
}

export async function pollLoop(options: PollOptions, io: ChannelIngestIO, signal: AbortSignal): Promise<void> {
  const { state, log, backoff } = options;
  let failures = 0;
  const failed = async (what: string, err: unknown, waitMs = backoffDelay(failures++, backoff)): Promise<void> => {
    log.warn(`matrix ${what} failed; trying again in ${waitMs} ms`, { error: err instanceof Error ? err.message : String(err) });
    await pause(waitMs, signal);
  };
  const stored = await io.cursor();
  let since = typeof stored === 'string' ? stored : undefined;
  while (!signal.aborted) {
    let batch: SyncResponse;
    let bot: BotIdentity;
    try {
      bot = await options.identity(signal);
      if (since === undefined) {
        // First run: start from now (connect's token, else a sync that waits for nothing).
        const start = state.baseline ?? (await sync(state, undefined, 0, signal)).next_batch;
        await io.ingest([], { cursor: start });
        since = start;
        state.baseline = undefined;
        continue;
      }
      batch = await sync(state, since, state.settings.pollTimeout, signal);
    } catch (err) {
      if (signal.aborted) return;
      if (isTokenRefused(err)) {
        io.fatal(`the homeserver refused the access token (${(err as Error).message})`, `check ${options.tokenKey} / MATRIX_ACCESS_TOKEN`);
        return;
      }
      if (err instanceof MatrixHttpError && err.status === 429) await failed('sync (rate limited)', err, err.retryAfterMs ?? 1000);
      else await failed('sync', err);
      continue;
    }
    learn(state, batch, log);
    for (const invite of invitesOf(batch, bot)) {
      if (shouldJoin(invite, state.settings)) state.pendingJoins.set(invite.roomId, { invite, tries: 0 });
      else log.info('matrix invite left alone (auto_join)', { room: invite.roomId, inviter: invite.inviter });
    }
    await joinInvites(state, log, signal);
    await countMembers(state, roomsWithMessages(batch), log, signal);
    const events = parseSync(batch, bot, (roomId) => isDirectRoom(state, roomId));
    try {
      // An empty batch too: it tells Pincer the loop is alive.
      await io.ingest(events, { cursor: batch.next_batch });
    } catch (err) {
      if (signal.aborted) return;
      // Not committed: the same token is asked again, and the same events come back.
      await failed('committing events', err);
      continue;
    }
    failures = 0;
    since = batch.next_batch;
  }
}
