import { ERRORS, isCatalogued, type ErrorCode } from './errors/catalogue.js';

export { ERRORS, asErrorCode, isCatalogued, type ErrorCode } from './errors/catalogue.js';

/**
 * Every error Pincer raises on purpose carries a stable `code` from the catalogue
 * (src/errors/catalogue.ts, shown to API clients and in logs) and the HTTP status the catalogue
 * gives that code. Codes never change meaning once released.
 */
export class PincerError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string = ERRORS[code].message, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PincerError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    if (details) this.details = details;
  }
}

export class ConfigError extends PincerError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], source: string) {
    super('CONFIG_INVALID', `Invalid configuration (${source}):\n` + problems.map((p) => `  - ${p}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class QueueFullError extends PincerError {
  readonly retryAfterSeconds: number;
  constructor(depth: number, limit: number, retryAfterSeconds: number) {
    super(
      'QUEUE_FULL',
      `The queue is full (${depth} of ${limit} messages waiting, limit at its cap). Retry after ${retryAfterSeconds} s.`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

type NotFoundCode = Extract<ErrorCode, `${string}_NOT_FOUND`>;

export class NotFoundError extends PincerError {
  constructor(code: NotFoundCode, what: string, id: string) {
    super(code, `No ${what} with id '${id}'.`);
  }
}

/** Thrown by a pipeline stage that exceeded its time budget. */
export class StageTimeoutError extends PincerError {
  constructor(stage: string, ms: number) {
    super('PIPELINE_STAGE_TIMEOUT', `${stage} did not finish within ${ms} ms`);
  }
}

/**
 * The catalogued code an error carries, if any: a PincerError's, or a catalogued `code` on any
 * other error (one rebuilt from a plugin thread, say). Classify by this, never by message text.
 */
export function errorCode(err: unknown): ErrorCode | undefined {
  if (err instanceof PincerError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return isCatalogued(code) ? code : undefined;
}

/** Whether `err` carries `code` (or one of `codes`). */
export function isErrorCode(err: unknown, ...codes: readonly ErrorCode[]): boolean {
  const code = errorCode(err);
  return code !== undefined && codes.includes(code);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
