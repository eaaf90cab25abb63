import type { CallOutcome } from '../../plugins/protocol.js';
import type { DeliveryChange } from '../../store/types.js';

export type DeliveryOutcome = 'sent' | 'retry' | 'rate_limited' | 'dead' | 'ambiguous' | 'released';

/** Waits between transient failures: after the 1st, 2nd, ... attempt. */
export const RETRY_DELAYS_MS: readonly number[] = [5_000, 25_000, 120_000, 600_000];

export interface FailureContext {
  now: number;
  /** Attempts used, this one included. */
  attempts: number;
  maxAttempts: number;
  /** The channel dedupes (or the operator chose resend): a send that may have arrived is simply sent again. */
  resendAmbiguous: boolean;
  maxRateWaitMs: number;
  /** Added to a platform's retry_after so a burst of waiting rows does not return at once. */
  jitterMs: number;
}

/**
 * What a failed platform call does to its delivery; the adapter classified the error, core
 * only applies the rule of its class. A 429 gives its attempt back; an ambiguous send on a
 * channel that cannot dedupe is held, never resent blindly.
 */
export function afterFailure(result: Extract<CallOutcome, { ok: false }>, ctx: FailureContext): { change: DeliveryChange; outcome: DeliveryOutcome } {
  const error = result.message;
  switch (result.errorClass) {
    case 'rate_limited': {
      const waitMs = result.retryAfterMs ?? 1_000;
      if (waitMs > ctx.maxRateWaitMs) return { change: { kind: 'dead', error: `the platform asked to wait ${Math.ceil(waitMs / 1000)} s, longer than channels.defaults.delivery.max_rate_wait: ${error}`, errorClass: 'rate_limited' }, outcome: 'dead' };
      return { change: { kind: 'rate_limited', availableAt: ctx.now + waitMs + ctx.jitterMs, error }, outcome: 'rate_limited' };
    }
    case 'permanent':
    case 'unparsable':
      return { change: { kind: 'dead', error, errorClass: result.errorClass }, outcome: 'dead' };
    case 'ambiguous':
      if (!ctx.resendAmbiguous) return { change: { kind: 'ambiguous', error }, outcome: 'ambiguous' };
      return retryOrDead(error, 'ambiguous', ctx);
    case 'transient':
      return retryOrDead(error, 'transient', ctx);
  }
}

function retryOrDead(error: string, errorClass: 'transient' | 'ambiguous', ctx: FailureContext): { change: DeliveryChange; outcome: DeliveryOutcome } {
  if (ctx.attempts >= ctx.maxAttempts) return { change: { kind: 'dead', error: `gave up after ${ctx.attempts} attempts: ${error}`, errorClass }, outcome: 'dead' };
  const delay = RETRY_DELAYS_MS[Math.min(ctx.attempts - 1, RETRY_DELAYS_MS.length - 1)] ?? 5_000;
  return { change: { kind: 'retry', availableAt: ctx.now + delay, error, errorClass }, outcome: 'retry' };
}
