/**
 * A WhatsApp Cloud API server for tests, written from Meta's documentation: the Graph API's
 * `POST /{version}/{phone_number_id}/messages` (Bearer token, the body validated, text bodies
 * of 1 to 4,096 code points, interactive reply buttons and lists within Meta's limits, the
 * 24-hour customer-service window per user, counted from their last message) and `GET
 * /{version}/{phone_number_id}`, answering `{error: {message, type, code, error_subcode,
 * fbtrace_id}}` envelopes; a scripted world of users whose messages are built as webhook
 * change notifications, sent by `WhatsAppWebhookSender` (signed, retried); fault scripts; an
 * outbound log of every accepted send. Its clock (`now`) governs the window and timestamps.
 *
 * Like Meta, it reports on every message it accepted with status webhooks (`sent`, then
 * `delivered`, by default) to `webhookUrl`, each echoing the send's `biz_opaque_callback_data`,
 * which appears in status webhooks only; `read` and `failed` come when a test says so.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { checkInteractive, type Choice } from './whatsapp-interactive.js';
import { WhatsAppWebhookSender, type WebhookDelivery } from './whatsapp-webhook.js';

export const WINDOW_MS = 24 * 3600 * 1000;
export const TEXT_LIMIT = 4096;

export type WhatsAppFault =
  /** A Graph error envelope (`retryAfter` seconds adds a Retry-After header). */
  | { kind: 'error'; status: number; code: number; subcode?: number; message?: string; retryAfter?: number }
  /** Processed (the message is sent), then the connection is cut before the answer. */
  | { kind: 'drop' }
  /** The connection is cut before anything is done. */
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number }
  /** Accepted (200 with a wamid), then reported by a `failed` status: Meta could not deliver it. */
  | { kind: 'fail_status'; code: number; title: string; details?: string };

export type StatusKind = 'sent' | 'delivered' | 'read' | 'failed';

export interface WhatsAppFakeOptions {
  accessToken?: string;
  phoneNumberId?: string;
  displayPhoneNumber?: string;
  appSecret?: string;
  now?: () => number;
  webhook?: { retryMs?: number; maxAttempts?: number };
  /** The statuses POSTed for every accepted message, in order; [] for none. */
  statuses?: StatusKind[];
}

export interface FakeWaUser {
  waId: string;
  name: string;
  /** When the user last wrote: the 24-hour window runs from here. */
  lastInboundAt?: number;
}

export interface SendCall {
  path: string;
  body: unknown;
  status: number;
  at: number;
  /** The recipient, when the body named one. */
  to?: string;
}

export interface SentMessage {
  id: string;
  to: string;
  type: string;
  text: string;
  previewUrl?: boolean;
  replyTo?: string;
  /** Reply buttons or list rows. */
  buttons?: Choice[];
  /** `button` (reply buttons) or `list`, for an interactive message. */
  interactive?: 'button' | 'list';
  /** The list's button label. */
  listButton?: string;
  /** `biz_opaque_callback_data`, echoed in this message's status webhooks. */
  reference?: string;
  at: number;
}

/** A status's `errors[0]`, as Meta writes it. */
export interface StatusError {
  code: number;
  title: string;
  message: string;
  error_data?: { details: string };
  href: string;
}

interface GraphErrorBody {
  error: { message: string; type: string; code: number; error_subcode?: number; error_data?: { messaging_product: 'whatsapp'; details: string }; fbtrace_id: string };
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

const graphError = (status: number, code: number, message: string, extra: { subcode?: number; details?: string; type?: string } = {}): Answer => {
  const error: GraphErrorBody['error'] = { message, type: extra.type ?? 'OAuthException', code, fbtrace_id: randomBytes(8).toString('base64url') };
  if (extra.subcode !== undefined) error.error_subcode = extra.subcode;
  if (extra.details !== undefined) error.error_data = { messaging_product: 'whatsapp', details: extra.details };
  return { status, body: { error } };
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const codePoints = (s: string): number => [...s].length;

export class WhatsAppFake {
  readonly accessToken: string;
  readonly phoneNumberId: string;
  readonly displayPhoneNumber: string;
  appSecret: string;
  readonly wabaId = '102290129340398';
  /** Every call to the messages endpoint, faulted ones included. */
  readonly calls: SendCall[] = [];
  /** Messages the fake accepted, oldest first. */
  readonly outbound: SentMessage[] = [];
  readonly users = new Map<string, FakeWaUser>();
  readonly webhook: WhatsAppWebhookSender;
  /** Where `deliver` POSTs: Pincer's webhook URL for the account. */
  webhookUrl = '';
  now: () => number;
  /** What every accepted message is reported with (options.statuses); a test may change it. */
  statuses: StatusKind[];
  private readonly app: FastifyInstance;
  private readonly faults: WhatsAppFault[] = [];
  private baseUrl = '';
  private nextId = 0;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(options: WhatsAppFakeOptions = {}) {
    this.accessToken = options.accessToken ?? 'EAAfake' + randomBytes(12).toString('hex');
    this.phoneNumberId = options.phoneNumberId ?? '106540352242922';
    this.displayPhoneNumber = options.displayPhoneNumber ?? '15550783881';
    this.appSecret = options.appSecret ?? randomBytes(16).toString('hex');
    this.now = options.now ?? Date.now;
    this.statuses = options.statuses ?? ['sent', 'delivered'];
    this.webhook = new WhatsAppWebhookSender(() => this.appSecret, options.webhook?.retryMs, options.webhook?.maxAttempts);
    this.app = Fastify({ logger: false, forceCloseConnections: true });
    this.app.post('/:version/:phone/messages', (req, reply) => this.handleSend(req, reply));
    this.app.get('/:version/:phone', (req, reply) => this.respond(reply, this.phoneInfo(req)));
  }

  get url(): string {
    return this.baseUrl;
  }

  async start(): Promise<{ url: string }> {
    this.baseUrl = await this.app.listen({ host: '127.0.0.1', port: 0 });
    return { url: this.baseUrl };
  }

  async stop(): Promise<void> {
    this.webhook.close();
    await Promise.allSettled([...this.pending]);
    await this.app.close();
  }

  /** Resolves once every status webhook started so far has been answered 2xx or given up. */
  async statusesSettled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  // ---- the world ------------------------------------------------------------------------

  user(waId: string, name = `User ${waId.slice(-4)}`): FakeWaUser {
    const known = this.users.get(waId);
    if (known) return known;
    const user: FakeWaUser = { waId, name };
    this.users.set(waId, user);
    return user;
  }

  wamid(): string {
    return `wamid.HBgL${Buffer.from(`${this.nextId++}:${randomBytes(6).toString('hex')}`).toString('base64url')}`;
  }

  /** A change notification carrying `value` for this phone number. */
  notification(value: Record<string, unknown>): Record<string, unknown> {
    return {
      object: 'whatsapp_business_account',
      entry: [{ id: this.wabaId, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: this.displayPhoneNumber, phone_number_id: this.phoneNumberId }, ...value } }] }],
    };
  }

  /**
   * The user writes: opens (or renews) their 24-hour window and returns the notification Meta
   * would POST. `message` is the type-specific part: `{type: 'text', text: {body}}` by default.
   */
  inbound(waId: string, message: Record<string, unknown>): { id: string; payload: Record<string, unknown> } {
    const user = this.user(waId);
    user.lastInboundAt = this.now();
    const id = this.wamid();
    const payload = this.notification({
      contacts: [{ profile: { name: user.name }, wa_id: waId }],
      messages: [{ from: waId, id, timestamp: String(Math.floor(this.now() / 1000)), ...message }],
    });
    return { id, payload };
  }

  text(waId: string, body: string, context?: { id: string; from?: string }): { id: string; payload: Record<string, unknown> } {
    return this.inbound(waId, { type: 'text', text: { body }, ...(context && { context: { from: context.from ?? this.displayPhoneNumber, id: context.id } }) });
  }

  buttonReply(waId: string, id: string, title: string, context: string): { id: string; payload: Record<string, unknown> } {
    return this.inbound(waId, { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title } }, context: { from: this.displayPhoneNumber, id: context } });
  }

  listReply(waId: string, id: string, title: string, description: string | undefined, context: string): { id: string; payload: Record<string, unknown> } {
    const row = { id, title, ...(description !== undefined && { description }) };
    return this.inbound(waId, { type: 'interactive', interactive: { type: 'list_reply', list_reply: row }, context: { from: this.displayPhoneNumber, id: context } });
  }

  /**
   * A status webhook of one of the bot's messages, as Meta sends it: `biz_opaque_callback_data`
   * echoed when the send set one, `conversation` and `pricing` with `sent`, `errors` with `failed`.
   */
  status(wamid: string, status: StatusKind, error?: Omit<StatusError, 'href' | 'message'> & { message?: string }): Record<string, unknown> {
    const sent = this.outbound.find((m) => m.id === wamid);
    const entry: Record<string, unknown> = { id: wamid, status, timestamp: String(Math.floor(this.now() / 1000)), recipient_id: sent?.to ?? '' };
    if (sent?.reference !== undefined) entry.biz_opaque_callback_data = sent.reference;
    if (status === 'sent') {
      entry.conversation = { id: `conv-${sent?.to ?? 'unknown'}`, origin: { type: 'service' } };
      entry.pricing = { billable: false, pricing_model: 'PMP', category: 'service' };
    }
    if (status === 'failed') {
      const e = error ?? { code: 131000, title: 'Something went wrong' };
      const full: StatusError = { code: e.code, title: e.title, message: e.message ?? e.title, href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/', ...(e.error_data && { error_data: e.error_data }) };
      entry.errors = [full];
    }
    return this.notification({ statuses: [entry] });
  }

  /** POST these statuses of a message one after the other (each retried), in the background. */
  report(wamid: string, statuses: readonly StatusKind[], error?: { code: number; title: string; details?: string }): void {
    if (this.webhookUrl === '' || statuses.length === 0) return;
    const url = this.webhookUrl;
    const failure = error && { code: error.code, title: error.title, ...(error.details !== undefined && { error_data: { details: error.details } }) };
    const run = (async () => {
      for (const status of statuses) await this.webhook.deliver(url, this.status(wamid, status, status === 'failed' ? failure : undefined));
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** POST a notification to `webhookUrl`, signed, retried as Meta retries. */
  deliver(payload: unknown, options: { maxAttempts?: number } = {}): Promise<WebhookDelivery> {
    return this.webhook.deliver(this.webhookUrl, payload, options);
  }

  fault(fault: WhatsAppFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  sent(to?: string): SentMessage[] {
    return to === undefined ? [...this.outbound] : this.outbound.filter((m) => m.to === to);
  }

  // ---- HTTP -----------------------------------------------------------------------------

  private authorized(req: FastifyRequest): Answer | undefined {
    const auth = req.headers.authorization;
    if (auth === undefined) return graphError(400, 2500, 'An active access token must be used to query information about the current user.');
    if (auth !== `Bearer ${this.accessToken}`) return graphError(401, 190, 'Invalid OAuth access token - Cannot parse access token');
    const { version, phone } = req.params as { version: string; phone: string };
    if (!/^v\d+\.\d+$/.test(version)) return graphError(400, 2500, `Unknown path components: /${version}/${phone}`);
    if (phone !== this.phoneNumberId) {
      return graphError(400, 100, `Unsupported post request. Object with ID '${phone}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`, { subcode: 33, type: 'GraphMethodException' });
    }
    return undefined;
  }

  private phoneInfo(req: FastifyRequest): Answer {
    return this.authorized(req) ?? { status: 200, body: { verified_name: 'Pincer Test', display_phone_number: `+${this.displayPhoneNumber}`, quality_rating: 'GREEN', id: this.phoneNumberId } };
  }

  private async handleSend(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = req.body;
    const to = isObject(body) && typeof body.to === 'string' ? body.to : undefined;
    const record = (status: number): void => void this.calls.push({ path: req.url, body, status, at: this.now(), ...(to !== undefined && { to }) });
    const fault = this.faults.shift();
    if (fault?.kind === 'reset') return this.cut(reply, () => record(0));
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    let answer = this.authorized(req);
    if (answer === undefined && fault?.kind === 'error') {
      answer = graphError(fault.status, fault.code, fault.message ?? `(#${fault.code}) fault`, { ...(fault.subcode !== undefined && { subcode: fault.subcode }) });
      if (fault.retryAfter !== undefined) answer.headers = { 'retry-after': String(fault.retryAfter) };
    }
    answer ??= this.send(body);
    record(answer.status);
    const accepted = answer.status === 200 ? this.outbound.at(-1) : undefined;
    if (accepted) {
      if (fault?.kind === 'fail_status') this.report(accepted.id, ['failed'], fault);
      else this.report(accepted.id, this.statuses);
    }
    if (fault?.kind === 'drop') return this.cut(reply);
    return this.respond(reply, answer);
  }

  private respond(reply: FastifyReply, answer: Answer): void {
    void reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body);
  }

  /** End the connection without an answer. */
  private cut(reply: FastifyReply, before?: () => void): void {
    before?.();
    reply.hijack();
    reply.raw.socket?.destroy();
  }

  /** A validated send: the message goes into the outbound log, or a Graph error says why not. */
  private send(body: unknown): Answer {
    if (!isObject(body)) return graphError(400, 100, '(#100) The request body must be a JSON object', { type: 'OAuthException' });
    if (body.messaging_product !== 'whatsapp') return graphError(400, 100, '(#100) The parameter messaging_product is required.');
    const to = body.to;
    if (typeof to !== 'string' || to === '') return graphError(400, 100, '(#100) The parameter to is required.');
    const type = body.type ?? 'text';
    const reference = body.biz_opaque_callback_data;
    if (reference !== undefined && (typeof reference !== 'string' || codePoints(reference) > 512)) {
      return graphError(400, 100, '(#100) Invalid parameter', { details: 'Param biz_opaque_callback_data must be a string of at most 512 characters.' });
    }
    let text: string;
    let buttons: SentMessage['buttons'];
    let shown: Pick<SentMessage, 'interactive' | 'listButton'> = {};
    if (type === 'text') {
      const t = body.text;
      if (!isObject(t) || typeof t.body !== 'string') return graphError(400, 100, "(#100) The parameter text['body'] is required.");
      const n = codePoints(t.body);
      if (n < 1 || n > TEXT_LIMIT) return graphError(400, 100, '(#100) Invalid parameter', { details: `Param text['body'] must be between 1 and ${TEXT_LIMIT} characters long.` });
      text = t.body;
    } else if (type === 'interactive') {
      const checked = checkInteractive(body.interactive);
      if ('code' in checked) return graphError(400, checked.code, checked.message, { ...(checked.details !== undefined && { details: checked.details }) });
      ({ text, buttons } = checked);
      shown = { interactive: checked.kind, ...(checked.listButton !== undefined && { listButton: checked.listButton }) };
    } else return graphError(400, 100, '(#100) Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO}');
    const user = this.users.get(to.replace(/^\+/, ''));
    if (user === undefined) return graphError(400, 131026, 'Message Undeliverable.', { details: 'Message Undeliverable.' });
    if (user.lastInboundAt === undefined || this.now() - user.lastInboundAt > WINDOW_MS) {
      return graphError(400, 131047, 'Re-engagement message', { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' });
    }
    const id = this.wamid();
    const context = isObject(body.context) && typeof body.context.message_id === 'string' ? body.context.message_id : undefined;
    const preview = isObject(body.text) && typeof body.text.preview_url === 'boolean' ? body.text.preview_url : undefined;
    this.outbound.push({
      id,
      to: user.waId,
      type,
      text,
      at: this.now(),
      ...(preview !== undefined && { previewUrl: preview }),
      ...(context !== undefined && { replyTo: context }),
      ...(buttons && { buttons }),
      ...shown,
      ...(typeof reference === 'string' && { reference }),
    });
    return { status: 200, body: { messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: user.waId }], messages: [{ id }] } };
  }
}
