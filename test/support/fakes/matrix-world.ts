/**
 * The state of the Matrix homeserver fake: users and their access tokens, rooms and
 * memberships, and one ordered stream of what happened (timeline events, invites, account
 * data) that /sync reads from a `since` position. Written from the client-server API spec.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonMap = { [key: string]: Json };

export interface FakeUser {
  userId: string;
  displayName: string;
  token: string;
}

export type Membership = 'join' | 'invite' | 'leave';

export interface RoomEvent {
  event_id: string;
  type: string;
  sender: string;
  room_id: string;
  origin_server_ts: number;
  content: JsonMap;
  state_key?: string;
}

export interface FakeRoom {
  roomId: string;
  name: string | undefined;
  members: Map<string, Membership>;
  events: RoomEvent[];
  encrypted: boolean;
}

/** One entry of the stream; `pos` orders them and is what next_batch tokens name. */
export type StreamEntry =
  | { pos: number; kind: 'timeline'; roomId: string; event: RoomEvent }
  | { pos: number; kind: 'invite'; roomId: string; userId: string; event: RoomEvent }
  | { pos: number; kind: 'account_data'; userId: string; type: string; content: JsonMap }
  | { pos: number; kind: 'leave'; roomId: string; userId: string };

type EntryInput = StreamEntry extends infer E ? (E extends StreamEntry ? Omit<E, 'pos'> : never) : never;

export const SERVER_NAME = 'example.org';

export class MatrixWorld {
  readonly users = new Map<string, FakeUser>();
  readonly rooms = new Map<string, FakeRoom>();
  readonly stream: StreamEntry[] = [];
  readonly accountData = new Map<string, Map<string, JsonMap>>();
  private pos = 0;
  private nextRoom = 1;
  private nextEvent = 1;
  /** Called after every append: long polls wake up. */
  onAppend: () => void = () => {};

  constructor(private readonly now: () => number) {}

  get position(): number {
    return this.pos;
  }

  user(localpart: string, displayName = localpart, token = `token-${localpart}`): FakeUser {
    const userId = `@${localpart}:${SERVER_NAME}`;
    const user = { userId, displayName, token };
    this.users.set(userId, user);
    return user;
  }

  userByToken(token: string): FakeUser | undefined {
    for (const user of this.users.values()) if (user.token === token) return user;
    return undefined;
  }

  private append(entry: EntryInput): StreamEntry {
    const full = { ...entry, pos: ++this.pos } as StreamEntry;
    this.stream.push(full);
    this.onAppend();
    return full;
  }

  private event(roomId: string, sender: string, type: string, content: JsonMap, stateKey?: string): RoomEvent {
    return {
      event_id: `$ev${this.nextEvent++}_${Math.random().toString(36).slice(2, 8)}`,
      type,
      sender,
      room_id: roomId,
      origin_server_ts: this.now(),
      content,
      ...(stateKey !== undefined ? { state_key: stateKey } : {}),
    };
  }

  /** A room whose `members` have joined (the first creates it). */
  room(members: string[], options: { name?: string; encrypted?: boolean } = {}): FakeRoom {
    const roomId = `!room${this.nextRoom++}:${SERVER_NAME}`;
    const room: FakeRoom = { roomId, name: options.name, members: new Map(), events: [], encrypted: options.encrypted ?? false };
    this.rooms.set(roomId, room);
    for (const member of members) this.setMembership(room, member, member, 'join');
    return room;
  }

  roomOf(roomId: string): FakeRoom | undefined {
    return this.rooms.get(roomId);
  }

  setMembership(room: FakeRoom, sender: string, target: string, membership: Membership, extra: JsonMap = {}): RoomEvent {
    room.members.set(target, membership);
    const displayname = this.users.get(target)?.displayName ?? null;
    const event = this.event(room.roomId, sender, 'm.room.member', { membership, displayname, ...extra }, target);
    room.events.push(event);
    if (membership === 'invite') this.append({ kind: 'invite', roomId: room.roomId, userId: target, event });
    else this.append({ kind: 'timeline', roomId: room.roomId, event });
    if (membership === 'leave') this.append({ kind: 'leave', roomId: room.roomId, userId: target });
    return event;
  }

  /** `from` invites `to`; a direct invite is a DM (`is_direct` on the member event). */
  invite(room: FakeRoom, from: string, to: string, direct = false): RoomEvent {
    return this.setMembership(room, from, to, 'invite', direct ? { is_direct: true } : {});
  }

  /** Append an event to a room's timeline: the same object again is a redelivery. */
  pushEvent(event: RoomEvent): StreamEntry {
    const room = this.rooms.get(event.room_id);
    if (!room) throw new Error(`no room ${event.room_id}`);
    if (!room.events.includes(event)) room.events.push(event);
    return this.append({ kind: 'timeline', roomId: room.roomId, event });
  }

  message(room: FakeRoom, sender: string, content: JsonMap): { event: RoomEvent; entry: StreamEntry } {
    const event = this.event(room.roomId, sender, room.encrypted ? 'm.room.encrypted' : 'm.room.message', room.encrypted ? { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'opaque' } : content);
    return { event, entry: this.pushEvent(event) };
  }

  setAccountData(userId: string, type: string, content: JsonMap): void {
    let mine = this.accountData.get(userId);
    if (!mine) this.accountData.set(userId, (mine = new Map()));
    mine.set(type, content);
    this.append({ kind: 'account_data', userId, type, content });
  }

  /** Mark a room a DM of `userId` with `other` in m.direct, as clients do. */
  markDirect(userId: string, other: string, roomId: string): void {
    const current = this.accountData.get(userId)?.get('m.direct') ?? {};
    const list = Array.isArray(current[other]) ? (current[other] as Json[]) : [];
    this.setAccountData(userId, 'm.direct', { ...current, [other]: [...list, roomId] });
  }

  /** Sent by `sender` through the API. */
  send(room: FakeRoom, sender: string, type: string, content: JsonMap): RoomEvent {
    const event = this.event(room.roomId, sender, type, content);
    this.pushEvent(event);
    return event;
  }

  joinedRooms(userId: string): FakeRoom[] {
    return [...this.rooms.values()].filter((room) => room.members.get(userId) === 'join');
  }

  joinedCount(room: FakeRoom): number {
    return [...room.members.values()].filter((m) => m === 'join').length;
  }

  invitedCount(room: FakeRoom): number {
    return [...room.members.values()].filter((m) => m === 'invite').length;
  }

  /**
   * What `userId` sees in a room, with edits applied: each of `sender`'s messages as its
   * latest content (an m.replace event is not a message of its own).
   */
  messagesOf(room: FakeRoom, sender: string): Array<{ event: RoomEvent; content: JsonMap }> {
    const latest = new Map<string, JsonMap>();
    const order: RoomEvent[] = [];
    for (const event of room.events) {
      if (event.type !== 'm.room.message' || event.sender !== sender) continue;
      const rel = event.content['m.relates_to'] as JsonMap | undefined;
      if (rel?.['rel_type'] === 'm.replace' && typeof rel['event_id'] === 'string') {
        if (latest.has(rel['event_id'])) latest.set(rel['event_id'], (event.content['m.new_content'] as JsonMap | undefined) ?? event.content);
        continue;
      }
      order.push(event);
      latest.set(event.event_id, event.content);
    }
    return order.map((event) => ({ event, content: latest.get(event.event_id) ?? event.content }));
  }
}
