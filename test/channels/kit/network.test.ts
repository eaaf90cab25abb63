import { describe, expect, it } from 'vitest';
import { failedBeforeSending, networkErrorCode } from '../../../src/channels/kit/network.js';

const coded = (code: string) => Object.assign(new Error(code), { code });

describe('network errors', () => {
  it("finds the code in fetch's cause and grammY's error", () => {
    expect(networkErrorCode(new TypeError('fetch failed', { cause: coded('ECONNREFUSED') }))).toBe('ECONNREFUSED');
    expect(networkErrorCode(Object.assign(new Error('Network request failed'), { error: coded('ENOTFOUND') }))).toBe('ENOTFOUND');
    expect(networkErrorCode(new TypeError('fetch failed', { cause: coded('UND_ERR_SOCKET') }))).toBe('UND_ERR_SOCKET');
    expect(networkErrorCode(new Error('plain'))).toBeUndefined();
    // A platform's own codes are not network codes.
    expect(networkErrorCode(Object.assign(new Error('x'), { code: 'slack_webapi_request_error' }))).toBeUndefined();
  });

  it('says a write never left only when the connection was never made', () => {
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'CERT_HAS_EXPIRED']) expect(failedBeforeSending(new TypeError('fetch failed', { cause: coded(code) }))).toBe(true);
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'EPIPE']) expect(failedBeforeSending(new TypeError('fetch failed', { cause: coded(code) }))).toBe(false);
  });
});
