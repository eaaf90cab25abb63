import { describe, expect, it } from 'vitest';
import { afterFailure, RETRY_DELAYS_MS } from '../../../src/channels/outbox/outcome.js';

const ctx = { now: 1_000, attempts: 1, maxAttempts: 5, resendAmbiguous: false, maxRateWaitMs: 900_000, jitterMs: 0 };

describe('delivery outcomes by error class', () => {
  it('a 429 waits retry_after and gives its attempt back; too long a wait is dead', () => {
    expect(afterFailure({ ok: false, errorClass: 'rate_limited', message: '429', retryAfterMs: 3000 }, ctx)).toEqual({ change: { kind: 'rate_limited', availableAt: 4000, error: '429' }, outcome: 'rate_limited' });
    expect(afterFailure({ ok: false, errorClass: 'rate_limited', message: '429', retryAfterMs: 3_600_000 }, ctx).outcome).toBe('dead');
  });

  it('transient errors back off and die after max attempts', () => {
    expect(afterFailure({ ok: false, errorClass: 'transient', message: 'ECONNREFUSED' }, ctx).change).toEqual({ kind: 'retry', availableAt: 1_000 + (RETRY_DELAYS_MS[0] as number), error: 'ECONNREFUSED', errorClass: 'transient' });
    expect(afterFailure({ ok: false, errorClass: 'transient', message: 'x' }, { ...ctx, attempts: 3 }).change).toMatchObject({ availableAt: 1_000 + (RETRY_DELAYS_MS[2] as number) });
    expect(afterFailure({ ok: false, errorClass: 'transient', message: 'x' }, { ...ctx, attempts: 5 }).outcome).toBe('dead');
  });

  it('permanent and unparsable errors are dead with their reason', () => {
    expect(afterFailure({ ok: false, errorClass: 'permanent', message: 'chat not found' }, ctx).change).toEqual({ kind: 'dead', error: 'chat not found', errorClass: 'permanent' });
    expect(afterFailure({ ok: false, errorClass: 'unparsable', message: "can't parse" }, ctx).outcome).toBe('dead');
  });

  it('an ambiguous send is held, unless the channel dedupes', () => {
    expect(afterFailure({ ok: false, errorClass: 'ambiguous', message: 'reset' }, ctx)).toEqual({ change: { kind: 'ambiguous', error: 'reset' }, outcome: 'ambiguous' });
    expect(afterFailure({ ok: false, errorClass: 'ambiguous', message: 'reset' }, { ...ctx, resendAmbiguous: true }).outcome).toBe('retry');
  });
});
