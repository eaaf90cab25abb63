import pino, { type DestinationStream, type Logger } from 'pino';

/** Anything that looks like a credential is replaced before a log line is written. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  ...['apiKey', 'api_key', 'token', 'tokens', 'admin_tokens', 'password', 'secret'].flatMap((key) => [key, `*.${key}`]),
  'config.auth',
  'auth',
];

export interface LoggerOptions {
  level: string;
  /** Where lines go; defaults to stdout through an asynchronous buffered writer. */
  destination?: DestinationStream;
}

export interface PincerLogger {
  logger: Logger;
  /** Write out whatever is buffered (call before exit). */
  flush(): void;
}

/**
 * JSON lines via pino. The default destination is asynchronous (S3.1): log writes are
 * buffered and leave the request path.
 */
export function createLogger(options: LoggerOptions): PincerLogger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  const logger = pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    logger,
    flush: () => {
      const flushSync = (destination as { flushSync?: () => void }).flushSync;
      try {
        if (typeof flushSync === 'function') flushSync.call(destination);
      } catch {
        // The destination was not ready yet (nothing written); nothing to flush.
      }
    },
  };
}
