import { describe, expect, it } from 'vitest';
import { ChannelError } from 'pincer/channel-kit';
import { MatrixHttpError, MatrixNetworkError } from '../client.js';
import { classifyMatrixError, isTokenRefused } from '../errors.js';

const http = (status: number, errcode: string, retry?: number) => new MatrixHttpError(status, errcode, 'x', retry);

describe('Matrix error classes', () => {
  it('waits out a 429 for its retry_after_ms', () => {
    expect(classifyMatrixError(http(429, 'M_LIMIT_EXCEEDED', 2500))).toMatchObject({ errorClass: 'rate_limited', retryAfterMs: 2500 });
    expect(classifyMatrixError(http(429, 'M_LIMIT_EXCEEDED'))).toMatchObject({ errorClass: 'rate_limited', retryAfterMs: 1000 });
  });

  it('retries a 5xx (the transaction id dedupes) and gives up on refusals', () => {
    expect(classifyMatrixError(http(502, 'M_UNKNOWN')).errorClass).toBe('transient');
    for (const [status, code] of [
      [403, 'M_FORBIDDEN'],
      [401, 'M_UNKNOWN_TOKEN'],
      [413, 'M_TOO_LARGE'],
      [404, 'M_NOT_FOUND'],
    ] as const) {
      expect(classifyMatrixError(http(status, code)).errorClass).toBe('permanent');
    }
  });

  it('calls a refused connection transient and a cut or timed-out one ambiguous', () => {
    expect(classifyMatrixError(new MatrixNetworkError('refused', 'ECONNREFUSED', false)).errorClass).toBe('transient');
    expect(classifyMatrixError(new MatrixNetworkError('cut', 'UND_ERR_SOCKET', false)).errorClass).toBe('ambiguous');
    expect(classifyMatrixError(new MatrixNetworkError('slow', undefined, true)).errorClass).toBe('ambiguous');
    expect(classifyMatrixError(new Error('what')).errorClass).toBe('ambiguous');
    const already = new ChannelError('permanent', 'known');
    expect(classifyMatrixError(already)).toBe(already);
  });

  it('knows a refused token', () => {
    expect(isTokenRefused(http(401, 'M_UNKNOWN_TOKEN'))).toBe(true);
    expect(isTokenRefused(http(403, 'M_USER_DEACTIVATED'))).toBe(true);
    expect(isTokenRefused(http(403, 'M_FORBIDDEN'))).toBe(false);
  });
});
