import { PincerError, type ErrorCode } from '../errors.js';

/** How a model call failed; the router decides from the class whether to retry or fall back. */
export type ModelErrorClass = 'auth' | 'rate_limit' | 'context_length' | 'timeout' | 'server' | 'bad_response' | 'aborted';

/** Each class's code, spelled out so every code can be found by grep (and is in the catalogue). */
const MODEL_ERROR_CODES: Record<ModelErrorClass, ErrorCode> = {
  auth: 'MODEL_AUTH',
  rate_limit: 'MODEL_RATE_LIMIT',
  context_length: 'MODEL_CONTEXT_LENGTH',
  timeout: 'MODEL_TIMEOUT',
  server: 'MODEL_SERVER',
  bad_response: 'MODEL_BAD_RESPONSE',
  aborted: 'MODEL_ABORTED',
};

export class ModelError extends PincerError {
  constructor(
    readonly errorClass: ModelErrorClass,
    readonly provider: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(MODEL_ERROR_CODES[errorClass], `${provider}: ${message}`);
  }
}
