import { z } from 'zod';
import type { JsonObject, JsonValue } from '../json.js';
import type { InboundEvent } from '../plugins/sdk.js';
import { canonicalTimeZone } from './time-zone.js';

/**
 * A channel plugin's events are checked like a client's request: a plugin is third-party
 * code, and one malformed event must not stop its neighbours (it is counted and skipped).
 */

const id = z.string().min(1).max(256);
const conversation = z.object({ kind: z.enum(['direct', 'group', 'channel']), id, threadId: id.optional(), title: z.string().max(256).optional() });
// A time zone Intl does not know is dropped (canonicalTimeZone), not a reason to skip the event.
const sender = z
  .object({ id, name: z.string().max(256).optional(), username: z.string().max(256).optional(), isBot: z.boolean(), timeZone: z.unknown().optional() })
  .transform(({ timeZone, ...rest }) => {
    const zone = canonicalTimeZone(timeZone);
    return zone ? { ...rest, timeZone: zone } : rest;
  });

const eventSchema = z.object({
  eventId: id,
  messageId: id,
  kind: z.enum(['message', 'command', 'action']),
  conversation,
  sender,
  text: z.string(),
  mentions: z.object({ bot: z.boolean(), replyToBot: z.boolean().optional(), users: z.array(z.string()).max(100).optional() }),
  replyTo: z.object({ messageId: id, senderId: id.optional(), isBot: z.boolean().optional() }).optional(),
  action: z.object({ id: z.string().min(1).max(256), value: z.string().max(4096).optional() }).optional(),
  fromSelf: z.boolean().optional(),
  timestamp: z.number().finite(),
  raw: z.unknown().optional(),
});

/** The raw payload kept with a message, for debugging and re-parsing; larger ones are cut. */
export const RAW_LIMIT_BYTES = 16_384;

export type CheckedEvent = { ok: true; event: InboundEvent } | { ok: false; problem: string };

export function checkEvent(value: unknown): CheckedEvent {
  const parsed = eventSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, problem: `${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, event: parsed.data as InboundEvent };
}

export function boundedRaw(raw: unknown): JsonValue | undefined {
  if (raw === undefined) return undefined;
  const text = JSON.stringify(raw);
  if (text === undefined) return undefined;
  if (Buffer.byteLength(text) <= RAW_LIMIT_BYTES) return raw as JsonValue;
  return { truncated: true, bytes: Buffer.byteLength(text), head: text.slice(0, RAW_LIMIT_BYTES / 2) };
}

/** What a message from a channel carries in `metadata.channel`: where to answer, and the evidence. */
export function channelMetadata(account: string, event: InboundEvent): JsonObject {
  const raw = boundedRaw(event.raw);
  const meta: Record<string, unknown> = {
    account,
    eventId: event.eventId,
    messageId: event.messageId,
    kind: event.kind,
    conversation: event.conversation,
    sender: event.sender,
    mentions: event.mentions,
    timestamp: event.timestamp,
    ...(event.replyTo ? { replyTo: event.replyTo } : {}),
    ...(event.action ? { action: event.action } : {}),
    ...(raw !== undefined ? { raw } : {}),
  };
  return meta as JsonObject;
}

/** The text the pipeline sees: a button press says which button. */
export function pipelineText(event: InboundEvent): string {
  if (event.kind === 'action' && event.action) return event.text || event.action.value || event.action.id;
  return event.text;
}
