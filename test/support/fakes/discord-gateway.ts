/**
 * The Discord gateway for tests, over a real WebSocket (`ws`), JSON encoding: HELLO (op 10)
 * with the heartbeat interval; IDENTIFY (op 2) checked for the token and privileged intents
 * (close 4004, 4014), answered by READY with session_id and resume_gateway_url; HEARTBEAT
 * (op 1) answered by HEARTBEAT_ACK (op 11), its sequence kept as what the client has taken;
 * RESUME (op 6) replaying every dispatch after the given sequence, then RESUMED, or
 * INVALID_SESSION (op 9, d false) for a session it does not know. Dispatches carry increasing
 * `s` per session and are kept for replay; the fake can send RECONNECT (op 7), INVALID_SESSION
 * and close with any code.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export const MESSAGE_CONTENT_INTENT = 1 << 15;

export interface GatewayDispatch {
  t: string;
  s: number;
  d: Record<string, unknown>;
}

export interface GatewaySession {
  id: string;
  intents: number;
  seq: number;
  /** Every dispatch of the session, for RESUME. */
  log: GatewayDispatch[];
  /** The highest sequence the client heartbeated or resumed with. */
  taken: number;
  socket: WebSocket | undefined;
  invalidated: boolean;
  /** Dispatched while no client held the session, and not yet replayed by a RESUME. */
  undelivered: GatewayDispatch[];
}

export interface GatewayHost {
  token(): string;
  bot(): Record<string, unknown>;
  applicationId(): string;
  /** Whether the application has the Message Content privileged intent enabled. */
  messageContentAllowed(): boolean;
}

interface Frame {
  op: number;
  d?: unknown;
  s?: number | null;
  t?: string | null;
}

export class DiscordGatewayFake {
  readonly sessions: GatewaySession[] = [];
  /** Every frame the client sent, in order. */
  readonly received: Frame[] = [];
  /** Dispatched before any session existed: given to the first READY (see dispatch). */
  private backlog: Array<{ t: string; d: Record<string, unknown> }> = [];
  private server: WebSocketServer | undefined;
  private port = 0;

  constructor(
    private readonly host: GatewayHost,
    readonly heartbeatIntervalMs = 500,
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    this.port = (server.address() as AddressInfo).port;
    server.on('connection', (socket) => this.connected(socket));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const client of this.server?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The session a live client holds, else the latest one (a restarted bot resumes it). */
  get current(): GatewaySession | undefined {
    return this.sessions.findLast((s) => s.socket !== undefined && !s.invalidated) ?? this.sessions.findLast((s) => !s.invalidated);
  }

  /** How many IDENTIFYs (fresh sessions) and RESUMEs the clients sent. */
  count(op: 2 | 6): number {
    return this.received.filter((f) => f.op === op).length;
  }

  /**
   * Dispatch an event on the current session (kept for replay if no client is connected). A
   * real gateway has nowhere to put an event while the bot is not connected and then
   * IDENTIFYs afresh; the fake hands such events to the new session, so a test need not wait
   * for READY before posting. A RESUME replays them as Discord does.
   */
  dispatch(t: string, d: Record<string, unknown>): { session: string; s: number } | undefined {
    const session = this.current;
    if (session === undefined) {
      this.backlog.push({ t, d });
      return undefined;
    }
    return { session: session.id, s: this.emit(session, t, d) };
  }

  /** Op 7: the client should reconnect and resume. */
  reconnect(): void {
    this.current?.socket?.send(JSON.stringify({ op: 7, d: null }));
  }

  /** Op 9 (d false): the session is gone; the client must IDENTIFY afresh. */
  invalidate(): void {
    const session = this.current;
    if (!session) return;
    session.invalidated = true;
    session.socket?.send(JSON.stringify({ op: 9, d: false }));
  }

  /** Close the current client's socket with a code (4004, 4014, 4000...). */
  close(code: number, reason = ''): void {
    this.current?.socket?.close(code, reason);
  }

  private emit(session: GatewaySession, t: string, d: Record<string, unknown>): number {
    const s = ++session.seq;
    session.log.push({ t, s, d });
    if (session.socket) session.socket.send(JSON.stringify({ op: 0, t, s, d }));
    else session.undelivered.push({ t, s, d });
    return s;
  }

  private connected(socket: WebSocket): void {
    let session: GatewaySession | undefined;
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs } }));
    socket.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(data)) as Frame;
      } catch {
        socket.close(4002, 'Error while decoding payload.');
        return;
      }
      this.received.push(frame);
      if (frame.op === 1) {
        if (session && typeof frame.d === 'number') session.taken = Math.max(session.taken, frame.d);
        socket.send(JSON.stringify({ op: 11 }));
      } else if (frame.op === 2) {
        session = this.identify(socket, frame.d as { token?: string; intents?: number });
      } else if (frame.op === 6) {
        session = this.resume(socket, frame.d as { token?: string; session_id?: string; seq?: number });
      }
    });
    socket.on('close', () => {
      if (session?.socket === socket) session.socket = undefined;
    });
  }

  private identify(socket: WebSocket, d: { token?: string; intents?: number }): GatewaySession | undefined {
    if (d.token !== this.host.token()) {
      socket.close(4004, 'Authentication failed.');
      return undefined;
    }
    const intents = d.intents ?? 0;
    if ((intents & MESSAGE_CONTENT_INTENT) !== 0 && !this.host.messageContentAllowed()) {
      socket.close(4014, 'Disallowed intent(s).');
      return undefined;
    }
    const session: GatewaySession = { id: randomUUID().replace(/-/g, ''), intents, seq: 0, log: [], taken: 0, socket, invalidated: false, undelivered: [] };
    // An older session of this bot stops getting events once a new one is identified.
    const backlog = this.backlog;
    this.backlog = [];
    for (const old of this.sessions) {
      if (old.socket !== undefined) continue;
      old.invalidated = true;
      backlog.push(...old.undelivered.filter((d) => d.t !== 'RESUMED'));
      old.undelivered = [];
    }
    this.sessions.push(session);
    this.emit(session, 'READY', { v: 10, user: this.host.bot(), guilds: [], session_id: session.id, resume_gateway_url: this.url, application: { id: this.host.applicationId(), flags: 0 } });
    for (const { t, d: data } of backlog) this.emit(session, t, data);
    return session;
  }

  private resume(socket: WebSocket, d: { token?: string; session_id?: string; seq?: number }): GatewaySession | undefined {
    if (d.token !== this.host.token()) {
      socket.close(4004, 'Authentication failed.');
      return undefined;
    }
    const session = this.sessions.find((s) => s.id === d.session_id && !s.invalidated);
    if (!session) {
      socket.send(JSON.stringify({ op: 9, d: false }));
      return undefined;
    }
    session.socket?.close(4000, 'replaced');
    session.socket = socket;
    session.undelivered = [];
    const after = typeof d.seq === 'number' ? d.seq : 0;
    session.taken = Math.max(session.taken, after);
    for (const dispatch of session.log) if (dispatch.s > after) socket.send(JSON.stringify({ op: 0, ...dispatch }));
    this.emit(session, 'RESUMED', {});
    return session;
  }
}
