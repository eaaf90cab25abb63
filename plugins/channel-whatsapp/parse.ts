/**
 * The Cloud API's webhook: the GET verification handshake and the signed POST of change
 * notifications, turned into events. Pure: no Graph calls.
 *
 * A POST carries `entry[].changes[].value` with `messages[]` (what users send), `contacts[]`
 * (their profile names) and `statuses[]` (sent, delivered, read, failed: receipts of our own
 * sends). Statuses become the verdict's receipts, each carrying the `biz_opaque_callback_data`
 * the send set (the part's id), which Meta echoes in every status of that message; core
 * applies them to the deliveries. Messages and statuses for another phone number of the same
 * business account (one app has one webhook URL for all its numbers) are skipped: they belong
 * to that number's account.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryStatus, InboundEvent, JsonObject, JsonValue, WebhookRequest, WebhookVerdict } from 'pincer/plugin';
import { statusReason } from './errors.js';

const SIGNATURE_HEADER = 'x-hub-signature-256';
/** A text starting "/word" is a command, as on the other channels. */
const COMMAND = /^\/[A-Za-z]/;

const isObject = (value: JsonValue | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const arrayOf = (value: JsonValue | undefined): JsonObject[] => (Array.isArray(value) ? value.filter(isObject) : []);
const text = (value: JsonValue | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

function header(headers: Record<string, string>, name: string): string | undefined {
  if (headers[name] !== undefined) return headers[name];
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Equal-length digests, so the compare takes the same time wherever the strings differ. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** `sha256=<hex>` of HMAC-SHA256(app_secret, the body's bytes), as Meta sends it. */
export function hubSignature(appSecret: string, body: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body, 'utf8').digest('hex')}`;
}

/** The GET Meta makes when the webhook URL is saved: echo hub.challenge if the token matches. */
export function verifyHandshake(query: Record<string, string>, verifyToken: string | undefined): WebhookVerdict {
  const mode = query['hub.mode'];
  const given = query['hub.verify_token'];
  const challenge = query['hub.challenge'];
  if (mode !== 'subscribe' || challenge === undefined || given === undefined) {
    return { accept: false, status: 403, code: 'CHANNEL_WEBHOOK_VERIFY_REFUSED', message: 'not a subscription handshake (hub.mode=subscribe, hub.verify_token and hub.challenge)' };
  }
  if (verifyToken === undefined || !sameSecret(given, verifyToken)) {
    return { accept: false, status: 403, code: 'CHANNEL_WEBHOOK_VERIFY_REFUSED', message: "hub.verify_token is not the account's verify_token" };
  }
  return { accept: true, events: [], status: 200, body: challenge };
}

/** A POST's signature check; undefined when it is good. */
export function checkSignature(request: WebhookRequest, appSecret: string): WebhookVerdict | undefined {
  const given = header(request.headers, SIGNATURE_HEADER);
  if (given === undefined) return { accept: false, status: 401, code: 'CHANNEL_WEBHOOK_UNSIGNED', message: 'the X-Hub-Signature-256 header is missing' };
  if (!sameSecret(given.trim().toLowerCase(), hubSignature(appSecret, request.body))) {
    return { accept: false, status: 401, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE', message: "X-Hub-Signature-256 does not match the body and the account's app_secret" };
  }
  return undefined;
}

interface Content {
  kind: InboundEvent['kind'];
  text: string;
  action?: { id: string; value?: string };
}

/** What one message says; types without text read as "[image]" etc., with their caption. */
function contentOf(message: JsonObject): Content {
  const type = text(message.type) ?? 'unknown';
  const body = message[type];
  const part = isObject(body) ? body : {};
  if (type === 'text') {
    const said = text(part.body) ?? '';
    return { kind: COMMAND.test(said) ? 'command' : 'message', text: said };
  }
  if (type === 'interactive') {
    // A reply button or list row the bot sent: its id is the button's value, which is what
    // the pipeline runs (a value such as "/order 42" is that command); the title is what the
    // user saw.
    const reply = isObject(part.button_reply) ? part.button_reply : isObject(part.list_reply) ? part.list_reply : undefined;
    const id = text(reply?.id);
    if (reply !== undefined && id !== undefined) {
      const title = text(reply.title);
      return { kind: 'action', text: id, action: { id, ...(title !== undefined && { value: title }) } };
    }
  }
  if (type === 'button') {
    // A quick-reply button of a template message: the payload plays the value's part.
    const payload = text(part.payload) ?? text(part.text);
    if (payload !== undefined) return { kind: 'action', text: payload, action: { id: payload, ...(text(part.text) !== undefined && { value: text(part.text)! }) } };
  }
  if (type === 'reaction') return { kind: 'message', text: `[reaction ${text(part.emoji) ?? ''}]`.replace(' ]', ']') };
  const caption = text(part.caption);
  return { kind: 'message', text: caption === undefined || caption === '' ? `[${type}]` : `[${type}] ${caption}` };
}

function names(value: JsonObject): Map<string, string> {
  const out = new Map<string, string>();
  for (const contact of arrayOf(value.contacts)) {
    const id = text(contact.wa_id);
    const name = isObject(contact.profile) ? text(contact.profile.name) : undefined;
    if (id !== undefined && name !== undefined) out.set(id, name);
  }
  return out;
}

function toEvent(message: JsonObject, value: JsonObject, senders: Map<string, string>): InboundEvent | undefined {
  const id = text(message.id);
  const from = text(message.from);
  if (id === undefined || from === undefined) return undefined;
  const content = contentOf(message);
  const metadata = isObject(value.metadata) ? value.metadata : {};
  const context = isObject(message.context) ? message.context : undefined;
  const business = text(metadata.display_phone_number)?.replace(/\D/g, '');
  const quoted = text(context?.id);
  const quotedFrom = text(context?.from);
  const replyToBot = quotedFrom !== undefined && business !== undefined && quotedFrom.replace(/\D/g, '') === business;
  const seconds = Number(text(message.timestamp) ?? message.timestamp);
  const name = senders.get(from);
  return {
    eventId: id,
    messageId: id,
    kind: content.kind,
    conversation: { kind: 'direct', id: from },
    sender: { id: from, ...(name !== undefined && { name }), isBot: false },
    text: content.text,
    // Every Cloud API message is a one-to-one chat with the business: it is addressed to the bot.
    mentions: { bot: true, ...(replyToBot && { replyToBot: true }) },
    ...(quoted !== undefined && { replyTo: { messageId: quoted, ...(quotedFrom !== undefined && { senderId: quotedFrom }), ...(replyToBot && { isBot: true }) } }),
    ...(content.action !== undefined && { action: content.action }),
    timestamp: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : Date.now(),
    raw: { message, metadata, ...(name !== undefined && { contact: { wa_id: from, name } }) },
  };
}

export interface ParsedNotification {
  events: InboundEvent[];
  /** Statuses of our sends (sent, delivered, read, failed), for core to apply to the deliveries. */
  receipts: DeliveryStatus[];
  /** Messages and statuses addressed to another phone number of the business account. */
  foreign: number;
}

const STATUSES = new Set<string>(['sent', 'delivered', 'read', 'failed']);

/** One entry of `statuses[]`; undefined for a status Pincer does not track (Meta's "deleted", say). */
function toReceipt(status: JsonObject): DeliveryStatus | undefined {
  const id = text(status.id);
  const said = text(status.status);
  if (id === undefined || said === undefined || !STATUSES.has(said)) return undefined;
  const seconds = Number(text(status.timestamp) ?? status.timestamp);
  const reference = text(status.biz_opaque_callback_data);
  const error = arrayOf(status.errors)[0];
  const data = isObject(error?.error_data) ? error.error_data : {};
  return {
    platformMessageId: id,
    status: said as DeliveryStatus['status'],
    timestamp: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : Date.now(),
    ...(said === 'failed' && { error: statusReason(error === undefined ? undefined : { code: error.code, title: error.title, message: error.message, details: data.details }) }),
    ...(reference !== undefined && { reference }),
  };
}

/** The messages of one notification, in order; undefined when the body is not one. */
export function parseNotification(body: JsonValue, phoneNumberId: string): ParsedNotification | undefined {
  if (!isObject(body) || !Array.isArray(body.entry)) return undefined;
  const out: ParsedNotification = { events: [], receipts: [], foreign: 0 };
  for (const entry of arrayOf(body.entry)) {
    for (const change of arrayOf(entry.changes)) {
      const value = isObject(change.value) ? change.value : undefined;
      if (value === undefined || (change.field !== undefined && change.field !== 'messages')) continue;
      const metadata = isObject(value.metadata) ? value.metadata : {};
      const number = text(metadata.phone_number_id);
      const messages = arrayOf(value.messages);
      const statuses = arrayOf(value.statuses);
      if (number !== undefined && number !== phoneNumberId) {
        out.foreign += messages.length + statuses.length;
        continue;
      }
      for (const status of statuses) {
        const receipt = toReceipt(status);
        if (receipt !== undefined) out.receipts.push(receipt);
      }
      const senders = names(value);
      for (const message of messages) {
        const event = toEvent(message, value, senders);
        if (event !== undefined) out.events.push(event);
      }
    }
  }
  return out;
}
