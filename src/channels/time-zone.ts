import { isJsonObject } from '../json.js';
import type { MessageRecord } from '../store/types.js';

/**
 * A sender's time zone, as a channel reports it (the web chat's browser, a platform's user
 * profile), is believed only when Intl knows it: the canonical IANA name ("asia/tokyo" is
 * "Asia/Tokyo"), or nothing. A zone Pincer cannot use is dropped, never an error: the message
 * matters more than its sender's clock.
 */
export function canonicalTimeZone(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The sender's zone a channel message carries (`metadata.channel.sender.timeZone`), checked again. */
export function senderTimeZone(message: Pick<MessageRecord, 'metadata'>): string | undefined {
  const channel = message.metadata?.channel;
  const sender = isJsonObject(channel) ? channel.sender : undefined;
  return isJsonObject(sender) ? canonicalTimeZone(sender.timeZone) : undefined;
}

/** `{ senderTimeZone }` for a tool call's context when the message carries one, else nothing. */
export function withSenderTimeZone(message: Pick<MessageRecord, 'metadata'>): { senderTimeZone?: string } {
  const zone = senderTimeZone(message);
  return zone ? { senderTimeZone: zone } : {};
}
