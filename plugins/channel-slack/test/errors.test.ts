import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { classifySlackError } from '../errors.js';

const platform = (error: string) => new WebAPIPlatformError({ ok: false, error });
const refused = (code: string) => new WebAPIRequestError(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) }));

describe('slack failures', () => {
  it('waits out a 429 for its Retry-After', () => {
    expect(classifySlackError(new WebAPIRateLimitedError(7), 'chat.postMessage')).toMatchObject({ errorClass: 'rate_limited', retryAfterMs: 7000 });
  });

  it('gives up on refusals no retry can change', () => {
    for (const error of ['channel_not_found', 'not_in_channel', 'msg_too_long', 'invalid_blocks', 'invalid_auth', 'token_revoked']) {
      expect(classifySlackError(platform(error), 'chat.postMessage')).toMatchObject({ errorClass: 'permanent', message: `chat.postMessage: ${error}` });
    }
  });

  it("treats Slack's own failures and 5xx as maybe posted, so the outbox reconciles before a resend", () => {
    expect(classifySlackError(platform('internal_error'), 'chat.postMessage').errorClass).toBe('ambiguous');
    expect(classifySlackError(new WebAPIHTTPError(503, 'Service Unavailable', {}, ''), 'chat.postMessage').errorClass).toBe('ambiguous');
    expect(classifySlackError(new WebAPIHTTPError(404, 'Not Found', {}, ''), 'chat.postMessage').errorClass).toBe('permanent');
  });

  it('tells a request that never left from one cut off after it went out', () => {
    expect(classifySlackError(refused('ECONNREFUSED'), 'chat.postMessage')).toMatchObject({ errorClass: 'transient', message: expect.stringContaining('ECONNREFUSED') });
    expect(classifySlackError(refused('ECONNRESET'), 'chat.postMessage').errorClass).toBe('ambiguous');
    expect(classifySlackError(new WebAPIRequestError(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })), 'chat.postMessage').errorClass).toBe('ambiguous');
  });

  it('retries an unlisted refusal within the attempts', () => {
    expect(classifySlackError(platform('something_new'), 'chat.update').errorClass).toBe('transient');
  });
});
