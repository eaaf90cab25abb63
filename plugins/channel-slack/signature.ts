/**
 * Slack's request signing (v0): `X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret,
 * "v0:" + X-Slack-Request-Timestamp + ":" + raw body))`, refused when the timestamp is more
 * than five minutes from now, so a captured request cannot be replayed later.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookRequest, WebhookVerdict } from 'pincer/plugin';

export const TOLERANCE_SECONDS = 300;

export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`, 'utf8').digest('hex')}`;
}

type Refusal = Extract<WebhookVerdict, { accept: false }>;

/** undefined when the request is Slack's; otherwise the answer that refuses it. */
export function checkSignature(request: WebhookRequest, secret: string, now = Date.now()): Refusal | undefined {
  const timestamp = request.headers['x-slack-request-timestamp'];
  const given = request.headers['x-slack-signature'];
  if (timestamp === undefined || given === undefined) {
    return { accept: false, status: 401, code: 'CHANNEL_WEBHOOK_UNSIGNED', message: 'the X-Slack-Signature or X-Slack-Request-Timestamp header is missing' };
  }
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (!Number.isFinite(seconds) || Math.abs(now / 1000 - seconds) > TOLERANCE_SECONDS) {
    return { accept: false, status: 401, code: 'CHANNEL_WEBHOOK_STALE', message: `X-Slack-Request-Timestamp is more than ${TOLERANCE_SECONDS} s from now (a replayed request, or a wrong clock)` };
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, request.body));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    return { accept: false, status: 401, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE', message: 'X-Slack-Signature does not match the body (check signing_secret)' };
  }
  return undefined;
}
