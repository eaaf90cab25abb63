/**
 * What a failed Discord REST call means for the delivery. Sends carry a nonce with
 * enforce_nonce, so Discord drops a repeat of a send it already made: a 5xx is transient (the
 * resend is safe) and a timeout is ambiguous, which the outbox resends for a channel whose
 * sends are idempotent.
 */
import { ChannelError, networkErrorCode, NOT_SENT_CODES } from 'pincer/channel-kit';
import { DiscordAPIError, HTTPError, RateLimitError } from '@discordjs/rest';

/** Discord's JSON error codes that mean the target is gone or closed to the bot. */
const PERMANENT_CODES = new Set([
  10003, // Unknown Channel
  10008, // Unknown Message
  50001, // Missing Access
  50007, // Cannot send messages to this user
  50013, // Missing Permissions
  50035, // Invalid Form Body (too long, bad reference)
]);

export function classifyDiscordError(err: unknown): ChannelError {
  if (err instanceof ChannelError) return err;
  if (err instanceof RateLimitError) {
    // retryAfter is in milliseconds already (Discord's retry_after seconds, or the bucket's reset).
    const wait = Math.max(err.retryAfter, err.timeToReset, 0);
    return new ChannelError('rate_limited', `${err.method} ${err.route}: 429 rate limited${err.global ? ' (global)' : ''}`, wait > 0 ? wait : 1000);
  }
  if (err instanceof DiscordAPIError) {
    const what = `${err.method.toUpperCase()} ${new URL(err.url).pathname}: ${err.status} ${err.message} (${err.code})`;
    if (err.status === 429) return new ChannelError('rate_limited', what, 1000);
    if (err.status >= 500) return new ChannelError('transient', what);
    if (typeof err.code === 'number' && PERMANENT_CODES.has(err.code)) return new ChannelError('permanent', what);
    // 401 (token refused), 403, 404 and any other refusal: sending again changes nothing.
    return new ChannelError('permanent', what);
  }
  if (err instanceof HTTPError) {
    const what = `${err.method.toUpperCase()} ${new URL(err.url).pathname}: ${err.status} ${err.message}`;
    return err.status >= 500 ? new ChannelError('transient', what) : new ChannelError('permanent', what);
  }
  const code = networkErrorCode(err);
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (code !== undefined && NOT_SENT_CODES.has(code)) return new ChannelError('transient', `${message} (${code})`);
  // A timeout or a reset after the request went out: it may have been sent.
  return new ChannelError('ambiguous', code === undefined ? message : `${message} (${code})`);
}

/** Discord refused the token: the account needs a new one. */
export function isUnauthorized(err: unknown): boolean {
  return err instanceof DiscordAPIError && err.status === 401;
}
