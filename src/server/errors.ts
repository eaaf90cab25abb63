import type { FastifyError, FastifyInstance } from 'fastify';
import { PincerError, QueueFullError } from '../errors.js';
import { isStoreUnavailable } from '../store/store-errors.js';

/** Fastify's own 4xx codes, renamed to Pincer's stable API codes. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
};

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Every error leaves as `{error: {code, message}}`; 5xx details stay in the log. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | PincerError | Error, request, reply) => {
    if (err instanceof QueueFullError) {
      void reply.header('retry-after', String(err.retryAfterSeconds));
    }
    if (err instanceof PincerError) {
      if (err.statusCode >= 500) request.log.error({ err }, err.message);
      return reply.code(err.statusCode).send(errorBody(err.code, err.message));
    }
    const fastifyErr = err as FastifyError;
    if (fastifyErr.validation) {
      const message = fastifyErr.validation
        .map((v) => {
          const where = `${fastifyErr.validationContext ?? 'request'}${v.instancePath ? v.instancePath.replace(/\//g, '.') : ''}`;
          const extra = v.keyword === 'additionalProperties' ? ` (unknown field "${String(v.params.additionalProperty)}")` : v.keyword === 'enum' ? ` (${(v.params.allowedValues as unknown[]).join(', ')})` : '';
          return `${where} ${v.message ?? 'is invalid'}${extra}`;
        })
        .join('; ');
      return reply.code(400).send(errorBody('VALIDATION_ERROR', message));
    }
    const status = fastifyErr.statusCode ?? 500;
    if (status < 500) {
      const code = FASTIFY_CODES[fastifyErr.code] ?? 'BAD_REQUEST';
      return reply.code(status).send(errorBody(code, fastifyErr.message));
    }
    if (isStoreUnavailable(err)) {
      request.log.error({ err }, 'storage error');
      return reply.code(503).header('retry-after', '1').send(errorBody('STORE_UNAVAILABLE', 'the message store could not complete the request; try again shortly'));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.code(500).send(errorBody('INTERNAL_ERROR', 'an internal error occurred; see the server log for the request id'));
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; see /docs for the API`));
  });
}
