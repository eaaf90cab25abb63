/**
 * How the Slack fake pushes events to an app, both ways Slack does:
 * - the Events API: a signed POST (`X-Slack-Signature: v0=…`, `X-Slack-Request-Timestamp`) that
 *   must be answered 2xx within 3 s, else retried up to 3 times (Slack: at once, after 1 min,
 *   after 5 min; here scaled by `retryMs`) with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`;
 * - Socket Mode: a WebSocket opened at the URL apps.connections.open handed out (one-time
 *   ticket), greeted with `hello`, carrying envelopes `{envelope_id, type, payload,
 *   retry_attempt, retry_reason, accepts_response_payload}` that the app acks with
 *   `{envelope_id, payload?}`; an envelope not acked in time is sent again (to the newest
 *   socket), up to 3 retries. The server pings every few seconds, as Slack does.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHmac, randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';

export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface EventAttempt {
  status: number | 'error' | 'timeout';
  /** Why no answer came. */
  error?: string;
  retryNum: number;
  at: number;
}

export interface EventDelivery {
  body: string;
  contentType: string;
  attempts: EventAttempt[];
  acked: boolean;
  /** The app's answer to the attempt that was acked. */
  answer?: string;
}

const RETRY_REASON = { error: 'http_error', timeout: 'http_timeout' } as const;

export class EventsApiSender {
  readonly deliveries: EventDelivery[] = [];

  constructor(
    private readonly signingSecret: () => string,
    private readonly options: { retryMs?: number; timeoutMs?: number; retries?: number } = {},
  ) {}

  /** One signed POST; `signature: null` sends none, a string forges it; `timestamp` overrides the clock. */
  async post(url: string, body: string, contentType: string, extra: { retryNum?: number; reason?: string; signature?: string | null; timestamp?: number } = {}): Promise<{ status: EventAttempt['status']; text?: string; error?: string }> {
    const timestamp = String(extra.timestamp ?? Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'content-type': contentType, 'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)', 'x-slack-request-timestamp': timestamp };
    if (extra.signature !== null) headers['x-slack-signature'] = extra.signature ?? slackSignature(this.signingSecret(), timestamp, body);
    if (extra.retryNum !== undefined && extra.retryNum > 0) {
      headers['x-slack-retry-num'] = String(extra.retryNum);
      headers['x-slack-retry-reason'] = extra.reason ?? 'http_error';
    }
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.options.timeoutMs ?? 3000) });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
      return { status: (err as Error).name === 'TimeoutError' ? 'timeout' : 'error', error: cause?.code ?? cause?.message ?? (err as Error).message };
    }
  }

  /** POST until a 2xx, retrying as Slack does. */
  async deliver(url: string, body: string, contentType = 'application/json'): Promise<EventDelivery> {
    const delivery: EventDelivery = { body, contentType, attempts: [], acked: false };
    this.deliveries.push(delivery);
    const retryMs = this.options.retryMs ?? 100;
    const waits = [0, retryMs, retryMs * 5].slice(0, this.options.retries ?? 3);
    let reason: string | undefined;
    for (let retryNum = 0; retryNum <= waits.length; retryNum++) {
      if (retryNum > 0) await new Promise((resolve) => setTimeout(resolve, waits[retryNum - 1]));
      const { status, text, error } = await this.post(url, body, contentType, { retryNum, ...(reason !== undefined ? { reason } : {}) });
      delivery.attempts.push({ status, retryNum, at: Date.now(), ...(error !== undefined ? { error } : {}) });
      if (typeof status === 'number' && status >= 200 && status < 300) {
        delivery.acked = true;
        if (text !== undefined) delivery.answer = text;
        break;
      }
      // X-Slack-No-Retry is honoured only on a non-2xx answer; Pincer never sends it.
      reason = typeof status === 'number' ? RETRY_REASON.error : RETRY_REASON[status];
    }
    return delivery;
  }
}

export interface Envelope {
  envelope_id: string;
  type: 'events_api' | 'interactive' | 'slash_commands';
  payload: Record<string, unknown>;
  /** Times it went out on a socket. */
  sends: number;
  acked: boolean;
  /** The payload the app put in its ack (a slash command's response). */
  ackPayload?: unknown;
  /** Dropped after its last retry went unacked. */
  lost: boolean;
}

export interface SocketModeOptions {
  ackTimeoutMs?: number;
  retries?: number;
  pingIntervalMs?: number;
}

export class SocketModeServer {
  readonly envelopes: Envelope[] = [];
  readonly sockets = new Set<WebSocket>();
  /** Sockets opened so far (reconnects included). */
  connections = 0;
  private readonly tickets = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly ping: NodeJS.Timeout;

  constructor(private readonly options: SocketModeOptions = {}) {
    this.ping = setInterval(() => {
      for (const socket of this.sockets) socket.ping();
    }, options.pingIntervalMs ?? 5000);
    this.ping.unref();
  }

  /** A one-time ticket for apps.connections.open's URL. */
  ticket(): string {
    const ticket = randomBytes(12).toString('hex');
    this.tickets.add(ticket);
    return ticket;
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    const ticket = url.searchParams.get('ticket') ?? '';
    if (url.pathname !== '/link' || !this.tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.opened(ws));
  }

  private opened(ws: WebSocket): void {
    this.sockets.add(ws);
    this.connections++;
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('error', () => this.sockets.delete(ws));
    ws.on('message', (data) => this.acked(String(data)));
    ws.send(JSON.stringify({ type: 'hello', num_connections: this.sockets.size, debug_info: { host: 'applink-fake', approximate_connection_time: 3600 }, connection_info: { app_id: 'A0PINCER1' } }));
    // Envelopes that found no socket go out now.
    for (const envelope of this.envelopes) if (!envelope.acked && !envelope.lost && envelope.sends === 0) this.send(envelope);
  }

  private acked(text: string): void {
    let message: { envelope_id?: unknown; payload?: unknown };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      return;
    }
    const envelope = this.envelopes.find((e) => e.envelope_id === message.envelope_id);
    if (!envelope || envelope.acked) return;
    envelope.acked = true;
    envelope.ackPayload = message.payload;
    clearTimeout(this.timers.get(envelope.envelope_id));
    this.timers.delete(envelope.envelope_id);
  }

  push(type: Envelope['type'], payload: Record<string, unknown>): Envelope {
    const envelope: Envelope = { envelope_id: randomBytes(16).toString('hex'), type, payload, sends: 0, acked: false, lost: false };
    this.envelopes.push(envelope);
    this.send(envelope);
    return envelope;
  }

  /** Sends `envelope` again now (a duplicate delivery, as Slack makes after a timeout). */
  resend(envelope: Envelope): void {
    this.send(envelope, true);
  }

  private send(envelope: Envelope, force = false): void {
    const socket = [...this.sockets].at(-1);
    if (!socket) return; // sent when a socket opens
    const retries = this.options.retries ?? 3;
    const retryAttempt = envelope.sends;
    envelope.sends++;
    socket.send(
      JSON.stringify({
        envelope_id: envelope.envelope_id,
        type: envelope.type,
        payload: envelope.payload,
        accepts_response_payload: envelope.type !== 'events_api',
        retry_attempt: retryAttempt,
        retry_reason: retryAttempt > 0 ? 'timeout' : '',
      }),
    );
    if (force) return;
    clearTimeout(this.timers.get(envelope.envelope_id));
    const timer = setTimeout(() => {
      this.timers.delete(envelope.envelope_id);
      if (envelope.acked) return;
      if (envelope.sends > retries) envelope.lost = true;
      else if (this.sockets.size > 0) this.send(envelope);
      else envelope.sends = 0; // waits for the next socket, as a fresh delivery
    }, this.options.ackTimeoutMs ?? 3000);
    timer.unref();
    this.timers.set(envelope.envelope_id, timer);
  }

  /** Slack recycling the connection: `disconnect` first, then the close. */
  refresh(reason = 'refresh_requested'): void {
    for (const socket of this.sockets) {
      socket.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } }));
      setTimeout(() => socket.close(1000), 50).unref();
    }
  }

  /** The connection dies without a word. */
  kill(): void {
    for (const socket of this.sockets) socket.terminate();
  }

  close(): void {
    clearInterval(this.ping);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.kill();
    this.wss.close();
  }
}
