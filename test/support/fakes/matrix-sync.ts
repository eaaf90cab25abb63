/**
 * The /sync answer of the Matrix fake for one user: an initial sync (no `since`: each joined
 * room's latest events, its members, pending invites, all account data) or the entries of the
 * stream after `since`, grouped the way the spec's response is (rooms.join / invite / leave,
 * account_data), with `next_batch` naming the stream's current position.
 */
import type { FakeRoom, Json, JsonMap, MatrixWorld, RoomEvent, StreamEntry } from './matrix-world.js';

export interface SyncFilter {
  /** Timeline events per room; more makes the timeline `limited`. */
  limit: number;
  types: string[] | undefined;
}

interface JoinedRoom {
  timeline: { events: RoomEvent[]; limited: boolean; prev_batch: string };
  state: { events: RoomEvent[] };
  summary?: JsonMap;
  account_data: { events: Json[] };
  ephemeral: { events: Json[] };
}

function emptyJoined(since: number): JoinedRoom {
  return { timeline: { events: [], limited: false, prev_batch: `s${since}` }, state: { events: [] }, account_data: { events: [] }, ephemeral: { events: [] } };
}

function summary(world: MatrixWorld, room: FakeRoom): JsonMap {
  return { 'm.joined_member_count': world.joinedCount(room), 'm.invited_member_count': world.invitedCount(room) };
}

function wanted(event: RoomEvent, filter: SyncFilter): boolean {
  return filter.types === undefined || filter.types.includes(event.type);
}

function limit(room: JoinedRoom, filter: SyncFilter): void {
  const events = room.timeline.events;
  if (events.length > filter.limit) {
    room.timeline.events = events.slice(events.length - filter.limit);
    room.timeline.limited = true;
  }
}

function inviteState(world: MatrixWorld, roomId: string, userId: string): RoomEvent[] {
  const room = world.roomOf(roomId);
  const own = [...(room?.events ?? [])].reverse().find((e) => e.type === 'm.room.member' && e.state_key === userId);
  return own ? [own] : [];
}

export function syncAnswer(world: MatrixWorld, userId: string, since: number | undefined, filter: SyncFilter): { hasNews: boolean; body: JsonMap } {
  const join: Record<string, JoinedRoom> = {};
  const invite: Record<string, { invite_state: { events: RoomEvent[] } }> = {};
  const leave: Record<string, JsonMap> = {};
  const accountData: Json[] = [];
  if (since === undefined) {
    for (const room of world.joinedRooms(userId)) {
      const joined = emptyJoined(0);
      joined.timeline.events = room.events.filter((e) => wanted(e, filter));
      joined.state.events = room.events.filter((e) => e.type === 'm.room.member');
      joined.summary = summary(world, room);
      limit(joined, filter);
      join[room.roomId] = joined;
    }
    for (const room of world.rooms.values()) if (room.members.get(userId) === 'invite') invite[room.roomId] = { invite_state: { events: inviteState(world, room.roomId, userId) } };
    for (const [type, content] of world.accountData.get(userId) ?? []) accountData.push({ type, content });
  } else {
    for (const entry of world.stream) {
      if (entry.pos <= since) continue;
      collect(world, entry, userId, filter, since, { join, invite, leave, accountData });
    }
    for (const room of Object.values(join)) limit(room, filter);
  }
  const hasNews = Object.keys(join).length + Object.keys(invite).length + Object.keys(leave).length + accountData.length > 0;
  return {
    hasNews,
    body: { next_batch: `s${world.position}`, rooms: { join, invite, leave } as unknown as JsonMap, account_data: { events: accountData }, presence: { events: [] } },
  };
}

interface Collected {
  join: Record<string, JoinedRoom>;
  invite: Record<string, { invite_state: { events: RoomEvent[] } }>;
  leave: Record<string, JsonMap>;
  accountData: Json[];
}

function collect(world: MatrixWorld, entry: StreamEntry, userId: string, filter: SyncFilter, since: number, out: Collected): void {
  if (entry.kind === 'account_data') {
    if (entry.userId === userId) out.accountData.push({ type: entry.type, content: entry.content });
    return;
  }
  const room = world.roomOf(entry.roomId);
  if (!room) return;
  if (entry.kind === 'invite') {
    if (entry.userId === userId && room.members.get(userId) === 'invite') out.invite[room.roomId] = { invite_state: { events: inviteState(world, room.roomId, userId) } };
    return;
  }
  if (entry.kind === 'leave') {
    if (entry.userId === userId) out.leave[room.roomId] = {};
    return;
  }
  // Timeline events reach members who are in the room now.
  if (room.members.get(userId) !== 'join') return;
  const joined = (out.join[room.roomId] ??= emptyJoined(since));
  if (wanted(entry.event, filter)) joined.timeline.events.push(entry.event);
  if (entry.event.type === 'm.room.member') joined.summary = summary(world, room);
}
