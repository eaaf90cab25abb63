import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, type WebhookSecret } from '../../../src/channels/kit/standard-webhooks.js';

/**
 * A receiver of Pincer's webhook channel calls, on 127.0.0.1, behaving as the channel's contract
 * asks a real one to: it verifies the Standard Webhooks signature (401 otherwise), processes each
 * webhook-id once (a repeat is answered as the first was, and recorded as a duplicate), and
 * answers 200 `{"id": "r<n>"}`. Faults, for the next verified calls in order (`enqueueFault`):
 *
 * - `status`: answer that status without processing (429 with a Retry-After, 500, 410...); a
 *   2xx status processes the call and answers `body` instead of the usual one;
 * - `drop`: process the call, then destroy the connection without answering (the response is lost);
 * - `delay`: process the call, answer after `ms` (a client with a shorter timeout gives up).
 */

export type ReceiverFault =
  | { type: 'status'; status: number; retryAfter?: string; body?: unknown }
  | { type: 'drop' }
  | { type: 'delay'; ms: number };

export interface ReceivedCall {
  id: string;
  /** webhook-timestamp, Unix seconds. */
  timestamp: number;
  headers: Record<string, string>;
  /** The body as sent, and parsed (the raw text when it is not JSON). */
  raw: string;
  body: any;
  /** The response id this call got (a duplicate gets its first call's). */
  responseId: string;
}

export interface RejectedCall {
  code: string;
  message: string;
  headers: Record<string, string>;
}

export interface WebhookReceiverOptions {
  /** What calls are signed with; several while a key rotates. */
  secret: WebhookSecret | readonly WebhookSecret[];
  toleranceSeconds?: number;
  /** Default "/hook". */
  path?: string;
}

export class WebhookReceiver {
  /** Each webhook-id's first processed call. */
  readonly accepted: ReceivedCall[] = [];
  /** Processed calls whose webhook-id had been processed before. */
  readonly duplicates: ReceivedCall[] = [];
  /** Calls refused for their signature or timestamp. */
  readonly rejected: RejectedCall[] = [];
  /** Verified calls answered with a fault instead of being processed. */
  readonly faulted: Array<{ id: string; fault: ReceiverFault }> = [];
  /** Where to POST, e.g. http://127.0.0.1:43210/hook. */
  url = '';

  private readonly faults: ReceiverFault[] = [];
  private readonly seen = new Map<string, string>();
  private readonly waiters = new Set<() => void>();
  private readonly delays = new Set<() => void>();

  private constructor(private readonly app: FastifyInstance) {}

  static async start(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
    const app = Fastify({ logger: false, forceCloseConnections: true });
    // Signatures are over the bytes as sent: keep the text, parse it ourselves.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    const path = options.path ?? '/hook';
    const self = new WebhookReceiver(app);
    app.post(path, async (request, reply) => {
      const raw = typeof request.body === 'string' ? request.body : '';
      const headers = flatHeaders(request.headers);
      const check = verifyWebhook(options.secret, headers, raw, { toleranceSeconds: options.toleranceSeconds });
      if (!check.ok) {
        self.rejected.push({ code: check.code, message: check.message, headers });
        self.notify();
        return reply.code(401).send({ error: { code: check.code, message: check.message } });
      }
      const fault = self.faults.shift();
      if (fault?.type === 'status' && (fault.status < 200 || fault.status > 299)) {
        self.faulted.push({ id: check.id, fault });
        self.notify();
        if (fault.retryAfter !== undefined) void reply.header('retry-after', fault.retryAfter);
        return reply.code(fault.status).send(fault.body ?? { error: `scripted ${fault.status}` });
      }
      const call = self.process(check.id, check.timestamp, headers, raw);
      if (fault?.type === 'drop') {
        reply.hijack();
        request.raw.socket.destroy();
        return reply;
      }
      if (fault?.type === 'delay') await self.delay(fault.ms);
      if (fault?.type === 'status') return reply.code(fault.status).send(fault.body);
      return reply.code(200).send({ id: call.responseId });
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    self.url = `http://127.0.0.1:${port}${path}`;
    return self;
  }

  /** Misbehave on the next verified call; several calls queue up, in order. */
  enqueueFault(fault: ReceiverFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  /** Faults still waiting for a call. */
  get pendingFaults(): number {
    return this.faults.length;
  }

  /** Every call answered, in any way. */
  get calls(): number {
    return this.accepted.length + this.duplicates.length + this.rejected.length + this.faulted.length;
  }

  /** Resolves once `predicate` holds after some call (at once if it already does). */
  until(predicate: (receiver: WebhookReceiver) => boolean, timeoutMs = 5_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`webhook receiver: condition not met within ${timeoutMs} ms (${this.calls} calls)`));
      }, timeoutMs);
      const check = (): void => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    for (const release of this.delays) release();
    this.delays.clear();
    await this.app.close();
  }

  private process(id: string, timestamp: number, headers: Record<string, string>, raw: string): ReceivedCall {
    const first = this.seen.get(id);
    const call: ReceivedCall = { id, timestamp, headers, raw, body: parseJson(raw), responseId: first ?? `r${this.accepted.length + 1}` };
    if (first === undefined) {
      this.seen.set(id, call.responseId);
      this.accepted.push(call);
    } else {
      this.duplicates.push(call);
    }
    this.notify();
    return call;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const release = (): void => {
        clearTimeout(timer);
        this.delays.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      this.delays.add(release);
    });
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
