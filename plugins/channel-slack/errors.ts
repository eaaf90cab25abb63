/**
 * What a failed Web API call means for a delivery. Slack answers most refusals as HTTP 200
 * `{ok: false, error}`; those never posted anything. A 5xx, a reset or a timeout may have
 * posted: that is ambiguous, and the outbox asks `reconcile` (the metadata stamp read back)
 * before it sends again.
 */
import { ErrorCode, type WebAPIHTTPError, type WebAPIPlatformError, type WebAPIRateLimitedError } from '@slack/web-api';
import { ChannelError, failedBeforeSending, networkErrorCode } from 'pincer/channel-kit';

/** `error` values after which sending the same again cannot work: an operator or the user must act. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'msg_too_long',
  'no_text',
  'too_many_attachments',
  'invalid_blocks',
  'invalid_blocks_format',
  'invalid_metadata_format',
  'invalid_metadata_schema',
  'metadata_too_large',
  'message_not_found',
  'cant_update_message',
  'edit_window_closed',
  'restricted_action',
  'restricted_action_read_only_channel',
  'restricted_action_thread_only_channel',
  'restricted_action_non_threadable_channel',
  'team_access_not_granted',
  'ekm_access_denied',
  'missing_scope',
  'not_authed',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'user_is_bot',
  'cannot_dm_bot',
]);

/** The token or the app is refused: the account stops until an operator fixes it. */
export const AUTH_ERRORS: ReadonlySet<string> = new Set(['not_authed', 'invalid_auth', 'account_inactive', 'token_revoked', 'token_expired', 'team_disabled', 'user_removed_from_team', 'missing_scope', 'not_allowed_token_type']);

/** Slack's own failures, reported as `ok: false`: the post may or may not have happened. */
const MAYBE_POSTED = new Set(['internal_error', 'fatal_error', 'request_timeout', 'service_unavailable']);

interface Coded {
  code?: unknown;
}

/** The `error` string of an `ok: false` answer, or undefined. */
export function platformError(err: unknown): string | undefined {
  if ((err as Coded | null)?.code !== ErrorCode.PlatformError) return undefined;
  const error = (err as WebAPIPlatformError).data?.error;
  return typeof error === 'string' ? error : undefined;
}

export function classifySlackError(err: unknown, method: string): ChannelError {
  if (err instanceof ChannelError) return err;
  const code = (err as Coded | null)?.code;
  if (code === ErrorCode.RateLimitedError) {
    const seconds = (err as WebAPIRateLimitedError).retryAfter;
    return new ChannelError('rate_limited', `${method}: 429 rate limited, retry after ${seconds} s`, Math.max(1, seconds) * 1000);
  }
  if (code === ErrorCode.PlatformError) {
    const error = platformError(err) ?? 'unknown_error';
    if (error === 'ratelimited') return new ChannelError('rate_limited', `${method}: ratelimited`, 1000);
    if (PERMANENT.has(error) || AUTH_ERRORS.has(error)) return new ChannelError('permanent', `${method}: ${error}`);
    if (MAYBE_POSTED.has(error)) return new ChannelError('ambiguous', `${method}: ${error}`);
    // An answer Slack gave on purpose, of a kind not listed: retried, within the attempts.
    return new ChannelError('transient', `${method}: ${error}`);
  }
  if (code === ErrorCode.HTTPError) {
    const status = (err as WebAPIHTTPError).statusCode;
    if (status >= 500) return new ChannelError('ambiguous', `${method}: HTTP ${status}`);
    return new ChannelError('permanent', `${method}: HTTP ${status}`);
  }
  const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  const system = networkErrorCode(err);
  const what = `${method}: ${message}${system !== undefined ? ` (${system})` : ''}`;
  if (failedBeforeSending(err)) return new ChannelError('transient', what);
  return new ChannelError('ambiguous', what);
}
