import { randomUUID } from 'node:crypto';
import type { InboundEvent } from '../../plugins/sdk.js';

export interface VisitorMessage {
  visitor: string;
  text: string;
  /** The client's Idempotency-Key header, if it sent one. */
  idempotencyKey: string | undefined;
  /** The browser's time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`), as the widget sent it: checked at ingress. */
  timeZone?: string | undefined;
  now: number;
}

/**
 * A visitor's message as every channel's events are: a direct conversation with the visitor,
 * who is its only sender and always addresses the bot. A client's Idempotency-Key is the event
 * id, so a retried POST is one message; it is prefixed with the visitor because the channel's
 * idempotency keys are per account, and one visitor's key must never find another's message.
 */
export function visitorEvent(message: VisitorMessage): InboundEvent {
  const eventId = `${message.visitor}:${message.idempotencyKey ?? randomUUID()}`;
  return {
    eventId,
    messageId: eventId,
    kind: /^\/[A-Za-z]/.test(message.text) ? 'command' : 'message',
    conversation: { kind: 'direct', id: message.visitor },
    sender: { id: message.visitor, isBot: false, ...(message.timeZone !== undefined ? { timeZone: message.timeZone } : {}) },
    text: message.text,
    mentions: { bot: true },
    timestamp: message.now,
  };
}
