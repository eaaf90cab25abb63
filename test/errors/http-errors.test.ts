import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { Agent, get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/errors/catalogue.js';
import { PincerError } from '../../src/errors.js';
import { FRAMEWORK_ERROR_OPTIONS, installErrorHandling } from '../../src/server/errors.js';

/** Fastify's own refusals leave with catalogued codes and the catalogue's status. */
describe('HTTP error bodies', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify({ bodyLimit: 64, ...FRAMEWORK_ERROR_OPTIONS });
    installErrorHandling(app);
    app.post('/echo', { schema: { body: { type: 'object', required: ['text'], properties: { text: { type: 'string' } }, additionalProperties: false } } }, async (request) => request.body);
    app.get('/items/:id', async () => 'ok');
    app.get('/boom', async () => {
      throw new Error('secret detail');
    });
    app.get('/gone', async () => {
      throw new PincerError('MESSAGE_NOT_FOUND', 'no such message');
    });
    app.get('/teapot', async () => {
      throw Object.assign(new Error('short and stout'), { statusCode: 418, code: 'SOME_PLUGIN_CODE' });
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const cases: Array<[string, InjectOptions, ErrorCode]> = [
    ['a body that is not JSON', { method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"text":' }, 'INVALID_JSON'],
    ['an empty JSON body', { method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '' }, 'EMPTY_BODY'],
    ['a body over the limit', { method: 'POST', url: '/echo', payload: { text: 'x'.repeat(100) } }, 'PAYLOAD_TOO_LARGE'],
    ['a content type the route does not take', { method: 'POST', url: '/echo', headers: { 'content-type': 'application/xml' }, payload: '<text/>' }, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a schema violation', { method: 'POST', url: '/echo', payload: { note: 'no text' } }, 'VALIDATION_ERROR'],
    ['a malformed URL', { method: 'GET', url: '/items/%E0%A4%A' }, 'BAD_REQUEST'],
    ['a path parameter over the router limit', { method: 'GET', url: `/items/${'x'.repeat(200)}` }, 'URI_TOO_LONG'],
    ['no such route', { method: 'GET', url: '/nowhere' }, 'ROUTE_NOT_FOUND'],
    ['a 4xx with a code Pincer does not know', { method: 'GET', url: '/teapot' }, 'BAD_REQUEST'],
    ['an unexpected error', { method: 'GET', url: '/boom' }, 'INTERNAL_ERROR'],
    ['a PincerError', { method: 'GET', url: '/gone' }, 'MESSAGE_NOT_FOUND'],
  ];

  it.each(cases)('%s', async (_what, request, code) => {
    const response = await app.inject(request);
    expect({ status: response.statusCode, code: response.json<{ error: { code: string } }>().error.code }).toEqual({ status: ERRORS[code].status, code });
  });

  it('names the field a schema violation is about, and keeps 5xx details in the log', async () => {
    const invalid = await app.inject({ method: 'POST', url: '/echo', payload: { note: 'no text' } });
    expect(invalid.json<{ error: { message: string } }>().error.message).toBe("body must have required property 'text'");
    const boom = await app.inject({ method: 'GET', url: '/boom' });
    expect(boom.body).not.toContain('secret detail');
  });

  it('refuses a request that reaches a closing server with SERVER_CLOSING, not Fastify\'s own 503', async () => {
    const closing = Fastify(FRAMEWORK_ERROR_OPTIONS);
    installErrorHandling(closing);
    let release: () => void = () => {};
    // Hold the close open (another part still draining) while a request comes in.
    closing.addHook('preClose', () => new Promise<void>((resolve) => (release = resolve)));
    closing.get('/ok', async () => 'ok');
    await closing.ready();
    const closed = closing.close();
    const response = await closing.inject({ method: 'GET', url: '/ok' });
    release();
    await closed;
    expect({ status: response.statusCode, body: response.json() }).toEqual({ status: 503, body: { error: { code: 'SERVER_CLOSING', message: ERRORS.SERVER_CLOSING.message } } });
  });

  it('ends the keep-alive connection of a request still running when close began, so close does not wait for its timeout', async () => {
    const server = Fastify(FRAMEWORK_ERROR_OPTIONS);
    installErrorHandling(server);
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => (started = resolve));
    let finish: () => void = () => {};
    server.get('/slow', async () => {
      started();
      await new Promise<void>((resolve) => (finish = resolve));
      return 'done';
    });
    let closingBegan: () => void = () => {};
    const closing = new Promise<void>((resolve) => (closingBegan = resolve));
    server.addHook('preClose', async () => closingBegan());
    const url = await server.listen({ host: '127.0.0.1', port: 0 });
    const agent = new Agent({ keepAlive: true });
    const answer = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      get(`${url}/slow`, { agent }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      }).on('error', reject);
    });
    await running;
    const closed = server.close();
    await closing;
    finish();
    // Without Connection: close the socket would stay open and close would wait 72 s; the
    // test's own timeout (30 s) fails first.
    expect(await answer).toEqual({ status: 200, connection: 'close', body: 'done' });
    await closed;
    agent.destroy();
  });
});
