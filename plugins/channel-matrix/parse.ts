/**
 * A /sync answer into Pincer's inbound events, invites and room facts. Pure: who the bot is
 * and what it knows of each room (DM or not) come in.
 *
 * Taken: `m.room.message` events of joined rooms' timelines with msgtype m.text, m.emote or
 * m.notice (m.notice is what bots send, so its sender counts as a bot). Ignored on purpose:
 * edits (`m.replace`: an edit does not ask again), other msgtypes (files, images), encrypted
 * events (end-to-end encryption is not supported) and redacted events.
 */
import type { InboundEvent, JsonObject, JsonValue } from 'pincer/plugin';

export interface BotIdentity {
  userId: string;
  /** Its display name, if it has one: a plain-text mention may use it. */
  displayName: string | undefined;
}

export interface MatrixEvent {
  event_id?: string;
  type?: string;
  sender?: string;
  state_key?: string;
  origin_server_ts?: number;
  content?: JsonObject;
  unsigned?: JsonObject;
}

interface RoomTimeline {
  timeline?: { events?: MatrixEvent[]; limited?: boolean };
  state?: { events?: MatrixEvent[] };
  summary?: { 'm.joined_member_count'?: number; 'm.invited_member_count'?: number };
}

export interface SyncResponse {
  next_batch: string;
  rooms?: {
    join?: Record<string, RoomTimeline>;
    invite?: Record<string, { invite_state?: { events?: MatrixEvent[] } }>;
    leave?: Record<string, unknown>;
  };
  account_data?: { events?: MatrixEvent[] };
}

export interface Invite {
  roomId: string;
  inviter: string;
  /** The inviter marked the room a direct chat. */
  isDirect: boolean;
}

const RAW_CAP = 8 * 1024;

/**
 * Pincer's ids are `[A-Za-z0-9._:@-]` (its API's id pattern), and Matrix ids open with a
 * sigil: a room "!abc:example.org" is conversation "abc:example.org", a thread root
 * "$ev" is thread "ev". The sigil is put back for every call to the homeserver.
 */
export const conversationIdOf = (roomId: string): string => (roomId.startsWith('!') ? roomId.slice(1) : roomId);
export const roomIdOf = (conversationId: string): string => (conversationId.startsWith('!') ? conversationId : `!${conversationId}`);
export const threadIdOf = (eventId: string): string => (eventId.startsWith('$') ? eventId.slice(1) : eventId);
export const threadRootOf = (threadId: string): string => (threadId.startsWith('$') ? threadId : `$${threadId}`);

/** Rooms the bot's m.direct account data lists (its value maps users to room ids). */
export function directRooms(content: JsonValue | undefined): Set<string> {
  const rooms = new Set<string>();
  if (typeof content !== 'object' || content === null || Array.isArray(content)) return rooms;
  for (const list of Object.values(content)) if (Array.isArray(list)) for (const id of list) if (typeof id === 'string') rooms.add(id);
  return rooms;
}

/** Invites addressed to the bot in this batch. */
export function invitesOf(sync: SyncResponse, bot: BotIdentity): Invite[] {
  const out: Invite[] = [];
  for (const [roomId, room] of Object.entries(sync.rooms?.invite ?? {})) {
    const own = room.invite_state?.events?.find((e) => e.type === 'm.room.member' && e.state_key === bot.userId && e.content?.['membership'] === 'invite');
    if (own?.sender !== undefined) out.push({ roomId, inviter: own.sender, isDirect: own.content?.['is_direct'] === true });
  }
  return out;
}

/** Joined rooms whose membership changed in this batch, with the counts the summary gave. */
export function memberChanges(sync: SyncResponse): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  for (const [roomId, room] of Object.entries(sync.rooms?.join ?? {})) {
    const joined = room.summary?.['m.joined_member_count'];
    const invited = room.summary?.['m.invited_member_count'] ?? 0;
    if (typeof joined === 'number') out.set(roomId, joined + invited);
    else if ([...(room.state?.events ?? []), ...(room.timeline?.events ?? [])].some((e) => e.type === 'm.room.member')) out.set(roomId, undefined);
  }
  return out;
}

/** Rooms with messages in this batch. */
export function roomsWithMessages(sync: SyncResponse): string[] {
  return Object.entries(sync.rooms?.join ?? {})
    .filter(([, room]) => (room.timeline?.events ?? []).some((e) => e.type === 'm.room.message'))
    .map(([id]) => id);
}

export function parseSync(sync: SyncResponse, bot: BotIdentity, isDirect: (roomId: string) => boolean): InboundEvent[] {
  const events: InboundEvent[] = [];
  for (const [roomId, room] of Object.entries(sync.rooms?.join ?? {})) {
    for (const event of room.timeline?.events ?? []) {
      const parsed = parseEvent(event, roomId, bot, isDirect(roomId));
      if (parsed !== undefined) events.push(parsed);
    }
  }
  return events;
}

function relation(content: JsonObject): JsonObject | undefined {
  const rel = content['m.relates_to'];
  return typeof rel === 'object' && rel !== null && !Array.isArray(rel) ? rel : undefined;
}

function inReplyTo(rel: JsonObject | undefined): string | undefined {
  const reply = rel?.['m.in_reply_to'];
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) return undefined;
  const id = reply['event_id'];
  // In a thread, a message that replies to nothing falls back to the thread's last event.
  return typeof id === 'string' && rel?.['is_falling_back'] !== true ? id : undefined;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The reply fallback ("> <@a:b> quoted" lines, then a blank line) older clients prepend. */
function stripReplyFallback(body: string): string {
  if (!body.startsWith('> ')) return body;
  const lines = body.split('\n');
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith('>')) i++;
  return lines.slice(i).join('\n').replace(/^\n/, '');
}

function pillTargets(formatted: string): string[] {
  const out: string[] = [];
  for (const m of formatted.matchAll(/<a\s[^>]*href\s*=\s*["']https:\/\/matrix\.to\/#\/(@[^"'?/]+)[^"']*["'][^>]*>([\s\S]*?)<\/a>/gi)) {
    out.push(decodeURIComponent(m[1]!));
  }
  return out;
}

function parseEvent(event: MatrixEvent, roomId: string, bot: BotIdentity, direct: boolean): InboundEvent | undefined {
  if (event.type !== 'm.room.message' || event.event_id === undefined || event.sender === undefined) return undefined;
  const content = event.content ?? {};
  const msgtype = content['msgtype'];
  if (msgtype !== 'm.text' && msgtype !== 'm.emote' && msgtype !== 'm.notice') return undefined;
  const rel = relation(content);
  if (rel?.['rel_type'] === 'm.replace') return undefined;
  const rawBody = typeof content['body'] === 'string' ? content['body'] : '';
  const replyId = inReplyTo(rel);
  let text = replyId !== undefined ? stripReplyFallback(rawBody) : rawBody;

  const formatted = content['format'] === 'org.matrix.custom.html' && typeof content['formatted_body'] === 'string' ? content['formatted_body'] : '';
  const mentioned = content['m.mentions'];
  const userIds =
    typeof mentioned === 'object' && mentioned !== null && !Array.isArray(mentioned) && Array.isArray(mentioned['user_ids'])
      ? mentioned['user_ids'].filter((id): id is string => typeof id === 'string')
      : [];
  const pills = pillTargets(formatted);
  let mentionsBot = userIds.includes(bot.userId) || pills.includes(bot.userId);
  // A plain-text mention: the MXID anywhere, or the display name or localpart opening the message.
  const localpart = bot.userId.slice(1).split(':')[0]!;
  const names = [bot.userId, bot.displayName, localpart].filter((n): n is string => n !== undefined && n !== '');
  for (const name of names) {
    const at = name === bot.userId ? new RegExp(escapeRegExp(name), 'i') : new RegExp(`^@?${escapeRegExp(name)}\\b[:,]?`, 'i');
    if (at.test(text)) {
      mentionsBot = true;
      text = text.replace(at, ' ');
    }
  }
  if (mentionsBot) {
    text = text
      .replace(/[ \t]{2,}/g, ' ')
      .replace(/^[ \t,:]+/, '')
      .replace(/[ \t]+([,.!?])/g, '$1')
      .trim();
  }
  if (msgtype === 'm.emote') text = `* ${event.sender} ${text}`;
  const thread = rel?.['rel_type'] === 'm.thread' && typeof rel['event_id'] === 'string' ? rel['event_id'] : undefined;
  const others = [...new Set([...userIds, ...pills])].filter((id) => id !== bot.userId);
  const raw = JSON.stringify(event).length <= RAW_CAP ? (event as unknown as JsonValue) : { event_id: event.event_id, type: event.type, sender: event.sender, truncated: true };
  return {
    eventId: event.event_id,
    messageId: event.event_id,
    kind: 'message',
    conversation: { kind: direct ? 'direct' : 'group', id: conversationIdOf(roomId), ...(thread !== undefined ? { threadId: threadIdOf(thread) } : {}) },
    sender: { id: event.sender, isBot: msgtype === 'm.notice' },
    text,
    mentions: { bot: mentionsBot, ...(others.length > 0 ? { users: others } : {}) },
    ...(replyId !== undefined ? { replyTo: { messageId: replyId } } : {}),
    fromSelf: event.sender === bot.userId,
    timestamp: typeof event.origin_server_ts === 'number' ? event.origin_server_ts : Date.now(),
    raw,
  };
}
