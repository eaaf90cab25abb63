import { describe, expect, it } from 'vitest';
import type { ChannelError } from 'pincer/channel-kit';
import { classifyGraphError, classifyNetworkError, OUTSIDE_WINDOW_REASON } from '../errors.js';

const envelope = (code: number, message = 'm', subcode?: number) => ({ error: { message, type: 'OAuthException', code, ...(subcode !== undefined && { error_subcode: subcode }), fbtrace_id: 'T' } });

function classOf(error: ChannelError): [string, number | undefined] {
  return [error.errorClass, error.retryAfterMs];
}

describe('Graph API error classification', () => {
  it('waits out rate limits: Retry-After when given, a minute for the pair limit', () => {
    expect(classOf(classifyGraphError(429, envelope(130429), '3'))).toEqual(['rate_limited', 3000]);
    expect(classOf(classifyGraphError(400, envelope(131056)))).toEqual(['rate_limited', 60_000]);
    expect(classifyGraphError(400, envelope(80007)).errorClass).toBe('rate_limited');
  });

  it('says plainly that the 24-hour window has closed', () => {
    const error = classifyGraphError(400, envelope(131047, 'Re-engagement message'));
    expect(error.errorClass).toBe('permanent');
    expect(error.message).toContain(OUTSIDE_WINDOW_REASON);
  });

  it('is permanent for invalid parameters, undeliverable messages and a refused token', () => {
    for (const [status, code] of [[400, 100], [400, 131026], [400, 131051], [401, 190], [400, 131030]] as const) {
      expect(classifyGraphError(status, envelope(code)).errorClass).toBe('permanent');
    }
    expect(classifyGraphError(401, envelope(190)).message).toMatch(/access token was refused/);
  });

  it('is ambiguous for a 5xx and "something went wrong": the message may have gone', () => {
    expect(classifyGraphError(500, envelope(131000)).errorClass).toBe('ambiguous');
    expect(classifyGraphError(400, envelope(131000)).errorClass).toBe('ambiguous');
    expect(classifyGraphError(502, undefined).errorClass).toBe('ambiguous');
  });

  it('retries only what never left: a refused connection is transient, a reset ambiguous', () => {
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'h', false).errorClass).toBe('transient');
    expect(classifyNetworkError(Object.assign(new Error('x'), { cause: { code: 'ENOTFOUND' } }), 'h', false).errorClass).toBe('transient');
    expect(classifyNetworkError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }), 'h', false).errorClass).toBe('ambiguous');
    expect(classifyNetworkError(new Error('aborted'), 'h', true).errorClass).toBe('ambiguous');
  });
});
