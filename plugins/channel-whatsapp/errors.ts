/**
 * What a failed Graph API call means for the delivery. The Cloud API has no idempotency key,
 * so a send is retried only when it surely never arrived (the connection was never made);
 * once the request may have been written, a 5xx, a timeout or a reset is ambiguous.
 *
 * Graph errors come as `{error: {message, type, code, error_subcode, error_data, fbtrace_id}}`;
 * the `code` says more than the HTTP status, so it is read first.
 */
import { ChannelError, networkErrorCode, NOT_SENT_CODES } from 'pincer/channel-kit';

export interface GraphError {
  message: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  details?: string;
  fbtrace_id?: string;
}

/** Throughput (130429), pair rate (131056), app and account rate limits (4, 80007, 131048 spam rate). */
const RATE_CODES = new Set([4, 80007, 130429, 131048, 131056]);
/** Meta names no wait for a pair limit; one user takes about one message per 6 s, so a minute clears it. */
const PAIR_WAIT_MS = 60_000;
const DEFAULT_WAIT_MS = 10_000;
/** "Something went wrong", service temporarily unavailable: the message may have been accepted. */
const SERVER_CODES = new Set([1, 2, 131000, 131016]);
const TOKEN_CODES = new Set([190, 102]);
export const OUTSIDE_WINDOW = 131047;

export const OUTSIDE_WINDOW_REASON = "more than 24 h since the user's last message: only a template message can be sent";

/** Retry-After as seconds, in milliseconds; undefined when absent or not seconds. */
export function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  return header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : undefined;
}

/** The error envelope of a Graph answer, or undefined when the body is not one. */
export function graphError(body: unknown): GraphError | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as Record<string, unknown>;
  const data = typeof e.error_data === 'object' && e.error_data !== null ? (e.error_data as Record<string, unknown>) : {};
  return {
    message: typeof e.message === 'string' ? e.message : 'no message',
    ...(typeof e.type === 'string' && { type: e.type }),
    ...(typeof e.code === 'number' && { code: e.code }),
    ...(typeof e.error_subcode === 'number' && { error_subcode: e.error_subcode }),
    ...(typeof data.details === 'string' && { details: data.details }),
    ...(typeof e.fbtrace_id === 'string' && { fbtrace_id: e.fbtrace_id }),
  };
}

/** A Graph refusal (a non-2xx answer) as a classified ChannelError. */
export function classifyGraphError(status: number, body: unknown, retryAfter?: string | string[]): ChannelError {
  const error = graphError(body);
  const code = error?.code;
  const said = error === undefined ? `HTTP ${status}` : `${status} (#${code ?? '?'}${error.error_subcode !== undefined ? `/${error.error_subcode}` : ''}) ${error.message}${error.details !== undefined ? `: ${error.details}` : ''}`;
  if (status === 429 || (code !== undefined && RATE_CODES.has(code))) {
    const wait = retryAfterMs(retryAfter) ?? (code === 131056 ? PAIR_WAIT_MS : DEFAULT_WAIT_MS);
    return new ChannelError('rate_limited', said, wait);
  }
  if (code === OUTSIDE_WINDOW) return new ChannelError('permanent', `${OUTSIDE_WINDOW_REASON} (${said})`);
  if (status === 401 || (code !== undefined && TOKEN_CODES.has(code))) {
    return new ChannelError('permanent', `the access token was refused: ${said}; check access_token / WHATSAPP_ACCESS_TOKEN`);
  }
  if (status >= 500 || (code !== undefined && SERVER_CODES.has(code))) return new ChannelError('ambiguous', said);
  // Invalid parameter (100), undeliverable (131026), unsupported type (131051), recipient not
  // allowed (131030), permissions (10, 200): sending again changes nothing.
  return new ChannelError('permanent', said);
}

/** A call that got no answer: sent or not? Only a failure to connect says "not". */
export function classifyNetworkError(error: unknown, host: string, timedOut: boolean): ChannelError {
  if (error instanceof ChannelError) return error;
  if (timedOut) return new ChannelError('ambiguous', `no answer from ${host} in time`);
  const code = networkErrorCode(error);
  const what = code ?? (error instanceof Error ? error.message : String(error));
  if (code !== undefined && NOT_SENT_CODES.has(code)) return new ChannelError('transient', `could not reach ${host} (${what})`);
  return new ChannelError('ambiguous', `the call to ${host} failed after it was sent (${what})`);
}

/**
 * Why a `failed` status says Meta could not deliver a message it had accepted, from its
 * `errors[0]` ({code, title, message, error_data: {details}}): outside the 24-hour window it
 * reads as the send's own refusal does.
 */
export function statusReason(error: { code?: unknown; title?: unknown; message?: unknown; details?: unknown } | undefined): string {
  if (error === undefined) return 'Meta gave no reason';
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const title = text(error.title) ?? text(error.message);
  const said = `#${typeof error.code === 'number' || typeof error.code === 'string' ? String(error.code) : '?'}${title !== undefined ? ` ${title}` : ''}${text(error.details) !== undefined ? `: ${text(error.details)}` : ''}`;
  return Number(error.code) === OUTSIDE_WINDOW ? `${OUTSIDE_WINDOW_REASON} (${said})` : said;
}
