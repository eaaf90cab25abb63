/**
 * What a failed Matrix call means for the delivery. A send carries a transaction id, and the
 * homeserver answers a repeated one with the first event's id instead of sending again, so a
 * send that may have arrived is safe to repeat (`idempotentSend: native`): a 5xx is transient,
 * and a cut or timed-out call is ambiguous, which core resends for a native channel.
 */
import { ChannelError, NOT_SENT_CODES } from 'pincer/channel-kit';
import { MatrixHttpError, MatrixNetworkError } from './client.js';

export function classifyMatrixError(err: unknown): ChannelError {
  if (err instanceof ChannelError) return err;
  if (err instanceof MatrixHttpError) {
    if (err.status === 429 || err.errcode === 'M_LIMIT_EXCEEDED') return new ChannelError('rate_limited', err.message, err.retryAfterMs ?? 1000);
    if (err.status >= 500) return new ChannelError('transient', err.message);
    if (err.status === 401) return new ChannelError('permanent', `${err.message} (the access token was refused)`);
    // 403 M_FORBIDDEN (not in the room), 404 (no such room), 413 M_TOO_LARGE, 400 M_BAD_JSON:
    // the same request gets the same answer.
    return new ChannelError('permanent', err.message);
  }
  if (err instanceof MatrixNetworkError) {
    if (err.errorCode !== undefined && NOT_SENT_CODES.has(err.errorCode) && !err.timedOut) return new ChannelError('transient', err.message);
    return new ChannelError('ambiguous', err.message);
  }
  return new ChannelError('ambiguous', err instanceof Error ? err.message : String(err));
}

/** The homeserver refused the token: no retry helps until an operator acts. */
export function isTokenRefused(err: unknown): boolean {
  return err instanceof MatrixHttpError && (err.status === 401 || err.errcode === 'M_UNKNOWN_TOKEN' || err.errcode === 'M_MISSING_TOKEN' || err.errcode === 'M_USER_DEACTIVATED');
}
