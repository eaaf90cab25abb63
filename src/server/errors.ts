import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, PincerError, QueueFullError, type ErrorCode } from '../errors.js';
import { isStoreUnavailable } from '../store/store-errors.js';

/**
 * Fastify's own request errors (lib/errors.js), renamed to Pincer's catalogued codes, so a
 * client sees one set of codes whichever layer refused the request.
 */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_VALIDATION: 'VALIDATION_ERROR',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_NOT_FOUND: 'ROUTE_NOT_FOUND',
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Answer with `code`'s catalogued status and the error body, outside the error handler (a hook, say). */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  return reply.code(ERRORS[code].status).send(errorBody(code, message));
}

/** The catalogued code for an error Fastify (or a Fastify plugin) raised. */
export function fastifyErrorCode(err: Pick<FastifyError, 'code' | 'statusCode'>): ErrorCode {
  const known = FASTIFY_CODES[err.code];
  if (known) return known;
  const status = err.statusCode ?? 500;
  return status >= 500 ? 'INTERNAL_ERROR' : status === 404 ? 'ROUTE_NOT_FOUND' : 'BAD_REQUEST';
}

/**
 * Options for every Pincer Fastify server: the refusals Fastify makes before any hook runs (a
 * malformed URL, an over-long path parameter) and during close get Pincer's codes too, instead
 * of Fastify's own `{error, code: FST_ERR_*, statusCode}` body.
 */
export const FRAMEWORK_ERROR_OPTIONS = {
  // Fastify's own 503 during close is answered as SERVER_CLOSING by installErrorHandling.
  return503OnClosing: false,
  frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
    const code = fastifyErrorCode(err);
    void sendError(reply, code, err.message);
  },
};

/** Ajv's findings as one line that names each field: `body.metadata must be object; ...`. */
function validationMessage(err: FastifyError): string {
  return (err.validation ?? [])
    .map((v) => {
      const where = `${err.validationContext ?? 'request'}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''}`;
      const extra = v.keyword === 'additionalProperties' ? ` (unknown field "${String(v.params.additionalProperty)}")` : v.keyword === 'enum' ? ` (${(v.params.allowedValues as unknown[]).join(', ')})` : '';
      return `${where} ${v.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

/**
 * Every error leaves as `{error: {code, message}}` with a catalogued code and the catalogue's
 * status for it; 5xx details stay in the log.
 */
export function installErrorHandling(app: FastifyInstance): void {
  // A request that reaches a server that is closing (a keep-alive connection, say) is refused
  // before any other hook, so a load balancer can send it elsewhere.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new PincerError('SERVER_CLOSING');
  });
  // A request still running when close began must not leave its keep-alive connection open:
  // close would wait for it until keepAliveTimeout (72 s) ran out.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });
  app.setErrorHandler((err: FastifyError | PincerError | Error, request, reply) => {
    if (err instanceof QueueFullError) {
      void reply.header('retry-after', String(err.retryAfterSeconds));
    }
    if (err instanceof PincerError) {
      if (err.statusCode >= 500) request.log.error({ err }, err.message);
      return sendError(reply, err.code, err.message);
    }
    const fastifyErr = err as FastifyError;
    if (fastifyErr.validation) {
      return sendError(reply, 'VALIDATION_ERROR', validationMessage(fastifyErr));
    }
    if ((fastifyErr.statusCode ?? 500) < 500) {
      const code = fastifyErrorCode(fastifyErr); // a 4xx, whoever raised it
      return sendError(reply, code, fastifyErr.message);
    }
    if (isStoreUnavailable(err)) {
      request.log.error({ err }, 'storage error');
      return sendError(reply.header('retry-after', '1'), 'STORE_UNAVAILABLE', 'the message store could not complete the request; try again shortly');
    }
    request.log.error({ err }, 'unhandled error');
    return sendError(reply, 'INTERNAL_ERROR', 'an internal error occurred; see the server log for the request id');
  });

  app.setNotFoundHandler((request, reply) => {
    void sendError(reply, 'ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; see /docs for the API`);
  });
}
