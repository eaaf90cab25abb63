import { verifyWebhook } from 'pincer/channel-kit';
import type { ChannelAccount, ConversationKind, InboundEvent, JsonObject, JsonValue, WebhookRequest, WebhookVerdict } from 'pincer/plugin';
import { AccountSettingError, inboundSettings } from './account.js';

/**
 * A message in, on POST /v1/channels/webhook/<account>/messages, signed per Standard Webhooks:
 *
 *   { "text": "hello",                       required, 1 to 32768 characters (UTF-16 units)
 *     "sender": { "id": "u1", "name": "Ann" }, id required
 *     "conversationId": "c1",                 default: the sender's id (a direct chat); required for a group
 *     "kind": "direct" | "group",             default "direct"
 *     "messageId": "m1",                      default: the webhook-id
 *     "metadata": { ... } }                   kept with the rest of the body in the event's raw
 *
 * Replays: a timestamp outside the tolerance is refused, and within it the webhook-id is the
 * event id, which core dedupes on; so a call is answered once however often it is sent.
 * Other fields are ignored, so senders may add their own.
 */

export const TEXT_LIMIT = 32_768;
const ID_LIMIT = 256;
// Ids become parts of conversation ids and metadata: no control characters (NUL above all).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

class BodyError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

const isObject = (value: JsonValue | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

function id(body: JsonObject, field: string, path = field): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BodyError(path, 'must be a string');
  if (value.length === 0 || value.length > ID_LIMIT) throw new BodyError(path, `must be 1 to ${ID_LIMIT} characters`);
  if (CONTROL.test(value)) throw new BodyError(path, 'must not contain control characters');
  return value;
}

interface WebhookMessage {
  text: string;
  sender: { id: string; name?: string };
  conversationId?: string;
  kind: 'direct' | 'group';
  messageId?: string;
}

/** The body's fields, or a BodyError naming the first one at fault. */
export function readMessage(raw: string): { message: WebhookMessage; body: JsonObject } {
  let body: JsonValue;
  try {
    body = JSON.parse(raw) as JsonValue;
  } catch (error) {
    throw new BodyError('body', `not JSON (${(error as Error).message})`);
  }
  if (!isObject(body)) throw new BodyError('body', 'must be a JSON object');

  const text = body.text;
  if (text === undefined) throw new BodyError('text', 'required');
  if (typeof text !== 'string') throw new BodyError('text', 'must be a string');
  if (text.length === 0 || text.length > TEXT_LIMIT) throw new BodyError('text', `must be 1 to ${TEXT_LIMIT} characters (it has ${text.length})`);
  if (text.includes('\u0000')) throw new BodyError('text', 'must not contain a NUL character');

  const sender = body.sender;
  if (sender === undefined) throw new BodyError('sender', 'required');
  if (!isObject(sender)) throw new BodyError('sender', 'must be an object with an id');
  const senderId = id(sender, 'id', 'sender.id');
  if (senderId === undefined) throw new BodyError('sender.id', 'required');
  const name = sender.name;
  if (name !== undefined && (typeof name !== 'string' || name.length > ID_LIMIT || CONTROL.test(name))) {
    throw new BodyError('sender.name', `must be a string of at most ${ID_LIMIT} characters without control characters`);
  }

  const kind = body.kind ?? 'direct';
  if (kind !== 'direct' && kind !== 'group') throw new BodyError('kind', 'must be "direct" or "group"');
  const conversationId = id(body, 'conversationId');
  if (kind === 'group' && conversationId === undefined) throw new BodyError('conversationId', 'required when kind is "group"');
  const messageId = id(body, 'messageId');
  if (body.metadata !== undefined && !isObject(body.metadata)) throw new BodyError('metadata', 'must be an object');

  const message: WebhookMessage = { text, sender: { id: senderId, ...(name !== undefined && { name }) }, kind, conversationId, messageId };
  return { message, body };
}

export function toEvent(eventId: string, timestampSeconds: number, message: WebhookMessage, body: JsonObject): InboundEvent {
  const kind: ConversationKind = message.kind;
  return {
    eventId,
    messageId: message.messageId ?? eventId,
    kind: /^\/[A-Za-z]/.test(message.text) ? 'command' : 'message',
    conversation: { kind, id: message.conversationId ?? message.sender.id },
    sender: { ...message.sender, isBot: false },
    text: message.text,
    // The call is made to the bot's own URL: whoever sent it addressed the bot.
    mentions: { bot: true },
    timestamp: timestampSeconds * 1000,
    raw: body,
  };
}

export function receive(request: WebhookRequest, account: ChannelAccount, now = Date.now()): WebhookVerdict {
  let settings;
  try {
    settings = inboundSettings(account);
  } catch (error) {
    // The sender did nothing wrong; a 5xx makes it try again once the operator has fixed it.
    if (error instanceof AccountSettingError) return { accept: false, status: 500, code: error.code, message: error.message };
    throw error;
  }
  const check = verifyWebhook(settings.secret, request.headers, request.body, { toleranceSeconds: settings.toleranceSeconds, now });
  if (!check.ok) return { accept: false, status: 401, code: check.code, message: check.message };
  try {
    const { message, body } = readMessage(request.body);
    return { accept: true, events: [toEvent(check.id, check.timestamp, message, body)], status: 202, body: { accepted: true } };
  } catch (error) {
    if (error instanceof BodyError) return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: error.message };
    throw error;
  }
}
