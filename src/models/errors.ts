import { PincerError } from '../errors.js';

/** How a model call failed; the router decides from the class whether to retry or fall back. */
export type ModelErrorClass = 'auth' | 'rate_limit' | 'context_length' | 'timeout' | 'server' | 'bad_response' | 'aborted';

export class ModelError extends PincerError {
  constructor(
    readonly errorClass: ModelErrorClass,
    readonly provider: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(`MODEL_${errorClass.toUpperCase()}`, `${provider}: ${message}`, errorClass === 'timeout' ? 504 : 502);
  }
}
