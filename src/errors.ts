/**
 * Every error Pincer raises on purpose carries a stable `code` (shown to API clients and in
 * logs) and, where it maps to HTTP, a status. Codes never change meaning once released.
 */
export class PincerError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, statusCode = 500, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PincerError';
    this.code = code;
    this.statusCode = statusCode;
    if (details) this.details = details;
  }
}

export class ConfigError extends PincerError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], source: string) {
    super(
      'PINCER_ERR_CONFIG_INVALID',
      `Invalid configuration (${source}):\n` + problems.map((p) => `  - ${p}`).join('\n'),
      500,
    );
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
      429,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class NotFoundError extends PincerError {
  constructor(what: string, id: string) {
    super(`${what.toUpperCase().replace(/ /g, '_')}_NOT_FOUND`, `No ${what} with id '${id}'.`, 404);
  }
}

/** Thrown by a pipeline stage that exceeded its time budget. */
export class StageTimeoutError extends PincerError {
  constructor(stage: string, ms: number) {
    super('PIPELINE_STAGE_TIMEOUT', `${stage} did not finish within ${ms} ms`, 500);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The `code` of an error Pincer (or a library) raised, if it has one: classify by this, never by message text. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
