import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { eventually, getJson, postJson, sendHostileMix, startPincer, tempDir, testConfig, waitForTerminal, type RunningPincer } from '../support/index.js';

describe('HTTP API', () => {
  let bot: RunningPincer;
  let releaseSlow: () => void = () => {};
  beforeAll(async () => {
    bot = await startPincer({}, (p) => {
      // A responder that streams its reply and waits for the test, for SSE and ordering checks.
      p.registry.addResponder({
        name: 'slow-streamer',
        order: 5,
        respond: async ({ message, stream }) => {
          if (!message.text.startsWith('stream:')) return undefined;
          await new Promise<void>((resolve) => (releaseSlow = resolve));
          stream('Hel');
          stream('lo!');
          return { text: 'Hello!' };
        },
      });
      p.registry.addResponder({
        name: 'always-fails',
        order: 6,
        respond: ({ message }) => {
          if (message.text === 'explode') throw new Error('this responder always fails');
          return undefined;
        },
      });
    });
  });
  afterAll(async () => bot.close());

  it('accepts a message with 202 and answers it', async () => {
    const sent = await postJson(`${bot.url}/v1/messages`, { text: '/echo hello', sender: 'ann', metadata: { source: 'test' } });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ status: 'queued' });
    expect(sent.headers.get('location')).toBe(`/v1/messages/${sent.body.id}`);
    const record = await waitForTerminal(bot.pincer.store.events, sent.body.id, 5000).then(() => getJson(`${bot.url}/v1/messages/${sent.body.id}`));
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({ id: sent.body.id, status: 'done', text: '/echo hello', sender: 'ann', channel: 'api', priority: 'normal', attempts: 1, reply: { text: 'hello', responder: 'commands' }, metadata: { source: 'test' } });
  });

  it('waits for the reply with ?wait=', async () => {
    const res = await postJson(`${bot.url}/v1/messages?wait=5`, { text: '/ping', conversationId: 'wait-conv', priority: 'high' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'done', conversationId: 'wait-conv', priority: 'high', reply: { text: 'pong' } });
  });

  it('answers free text with the built-in model, and says what it cannot do', async () => {
    const hello = await postJson(`${bot.url}/v1/messages?wait=5`, { text: 'what can you do?' });
    expect(hello.body.reply).toMatchObject({ responder: 'model', data: { model: 'local/intents', intent: 'capabilities', finishReason: 'stop' } });
    expect(hello.body.reply.text).toMatch(/send \/help/);
    const beyond = await postJson(`${bot.url}/v1/messages?wait=5`, { text: 'What is the capital of France?' });
    expect(beyond.body.reply.data).toMatchObject({ intent: 'unknown' });
    expect(beyond.body.reply.text).toMatch(/connect a language model: see docs\/models.md/);
  });

  it('answers 202 when the reply is not ready within the wait', async () => {
    const res = await postJson(`${bot.url}/v1/messages?wait=0.2`, { text: 'stream: slow one', conversationId: 'slow-wait' });
    expect(res.status).toBe(202);
    expect(['queued', 'processing']).toContain(res.body.status);
    releaseSlow();
    await waitForTerminal(bot.pincer.store.events, res.body.id, 5000);
  });

  it('streams status and reply tokens over server-sent events', async () => {
    const sent = await postJson(`${bot.url}/v1/messages`, { text: 'stream: please', conversationId: 'sse-conv' });
    const response = await fetch(`${bot.url}/v1/messages/${sent.body.id}/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let released = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      // Release the responder once the stream is open and has told us the current status.
      if (!released && text.includes('event: status')) {
        released = true;
        releaseSlow();
      }
    }
    const events = text
      .split('\n\n')
      .filter((block) => block.startsWith('event:'))
      .map((block) => {
        const [eventLine, dataLine] = block.split('\n');
        return { event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) };
      });
    const names = events.map((e) => e.event);
    expect(names[names.length - 1]).toBe('end');
    expect(events.filter((e) => e.event === 'token').map((e) => e.data.delta)).toEqual(['Hel', 'lo!']);
    expect(events.find((e) => e.event === 'reply')!.data).toEqual({ text: 'Hello!', responder: 'slow-streamer' });
    expect(events.filter((e) => e.event === 'status').map((e) => e.data.status).pop()).toBe('done');
  });

  it('replays the final state to an SSE client that connects after the end', async () => {
    const sent = await postJson(`${bot.url}/v1/messages?wait=5`, { text: '/ping' });
    const text = await (await fetch(`${bot.url}/v1/messages/${sent.body.id}/events`)).text();
    expect(text).toContain('event: status\ndata: {"status":"done","attempts":1}');
    expect(text).toContain('event: reply\ndata: {"text":"pong","responder":"commands"}');
    expect(text.trimEnd().endsWith('event: end\ndata: {}')).toBe(true);
    const missing = await fetch(`${bot.url}/v1/messages/nope/events`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'MESSAGE_NOT_FOUND', message: "No message with id 'nope'." } });
  });

  it('lists a conversation oldest first, with replies', async () => {
    for (const text of ['/echo one', '/echo two', '/echo three']) await postJson(`${bot.url}/v1/messages`, { text, conversationId: 'conv-list' });
    const last = await postJson(`${bot.url}/v1/messages?wait=5`, { text: '/echo four', conversationId: 'conv-list' });
    expect(last.status).toBe(200);
    const conv = await getJson(`${bot.url}/v1/conversations/conv-list`);
    expect(conv.body.id).toBe('conv-list');
    expect(conv.body.messages.map((m: any) => m.reply.text)).toEqual(['one', 'two', 'three', 'four']);
    const page = await getJson(`${bot.url}/v1/conversations/conv-list?limit=2&offset=1`);
    expect(page.body.messages.map((m: any) => m.text)).toEqual(['/echo two', '/echo three']);
    expect((await getJson(`${bot.url}/v1/conversations/nobody`)).body.error.code).toBe('CONVERSATION_NOT_FOUND');
  });

  it('refuses bodies with deeply nested metadata alone: 50 good neighbours in the same batches are accepted', async () => {
    const { good, hostile } = await sendHostileMix(bot.url);
    expect(good).toEqual(good.map(() => 202));
    expect(hostile).toEqual(hostile.map(() => ({ status: 400, code: 'METADATA_TOO_DEEP' })));
  });

  it('maps an Idempotency-Key to one message', async () => {
    const headers = { 'idempotency-key': 'order-42' };
    const first = await postJson(`${bot.url}/v1/messages?wait=5`, { text: '/echo once' }, headers);
    const second = await postJson(`${bot.url}/v1/messages`, { text: '/echo once' }, headers);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const conv = await getJson(`${bot.url}/v1/conversations/${first.body.conversationId}`);
    expect(conv.body.messages).toHaveLength(1);
  });

  it('records a failure on the message and schedules a retry', async () => {
    const sent = await postJson(`${bot.url}/v1/messages`, { text: 'explode' });
    const message = await eventually(() => getJson(`${bot.url}/v1/messages/${sent.body.id}`), (r) => r.body.status === 'failed', 5000, 'failed status');
    expect(message.body).toMatchObject({ attempts: 1, lastError: 'responder always-fails: this responder always fails' });
  });

  it('serves health as plain OK without logging it, and readiness as JSON', async () => {
    const health = await fetch(`${bot.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await health.text()).toBe('OK');
    const ready = await getJson(`${bot.url}/ready`);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', checks: { storage: 'ok', workers: 'ok', http: 'ok' } } });
    await getJson(`${bot.url}/v1/messages/not-there`, { 'x-request-id': 'trace-me-123' });
    bot.pincer.log.flush();
    const urls = bot.logs.lines.filter((l) => l.msg === 'request').map((l) => l.url);
    expect(urls).toContain('/v1/messages/not-there');
    expect(urls.some((u) => String(u).startsWith('/health'))).toBe(false);
    expect(urls.some((u) => String(u).startsWith('/ready'))).toBe(false);
    const traced = bot.logs.lines.find((l) => l.url === '/v1/messages/not-there');
    expect(traced).toMatchObject({ reqId: 'trace-me-123', status: 404 });
  });

  it('serves its OpenAPI document and docs UI', async () => {
    const doc = await getJson(`${bot.url}/openapi.json`);
    expect(doc.body.openapi).toBe('3.1.0');
    for (const p of ['/v1/messages', '/v1/messages/{id}', '/v1/messages/{id}/events', '/v1/conversations/{id}', '/health', '/ready', '/v1/admin/queue/stats', '/v1/admin/queue/dead', '/v1/admin/queue/retry']) {
      expect(Object.keys(doc.body.paths)).toContain(p);
    }
    const ui = await fetch(`${bot.url}/docs/`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger/i);
  });

  describe('bad input gets a clear 4xx', () => {
    const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string, RegExp]> = [
      ['malformed JSON', () => postJson(`${bot.url}/v1/messages`, '{"text": '), 400, 'INVALID_JSON', /not valid JSON/],
      ['a wrong type', () => postJson(`${bot.url}/v1/messages`, { text: 42 }), 400, 'VALIDATION_ERROR', /body\.text must be string/],
      ['a missing field', () => postJson(`${bot.url}/v1/messages`, { conversationId: 'x' }), 400, 'VALIDATION_ERROR', /must have required property 'text'/],
      ['an empty text', () => postJson(`${bot.url}/v1/messages`, { text: '' }), 400, 'VALIDATION_ERROR', /body\.text must NOT have fewer than 1 characters/],
      ['an unknown field', () => postJson(`${bot.url}/v1/messages`, { text: 'x', colour: 'red' }), 400, 'VALIDATION_ERROR', /unknown field "colour"/],
      ['a bad priority', () => postJson(`${bot.url}/v1/messages`, { text: 'x', priority: 'urgent' }), 400, 'VALIDATION_ERROR', /body\.priority must be equal to one of the allowed values \(high, normal, low\)/],
      ['a bad conversation id', () => postJson(`${bot.url}/v1/messages`, { text: 'x', conversationId: 'a b/c' }), 400, 'VALIDATION_ERROR', /body\.conversationId must match pattern/],
      ['a text over the limit', () => postJson(`${bot.url}/v1/messages`, { text: 'x'.repeat(40_000) }), 400, 'VALIDATION_ERROR', /must NOT have more than 32768 characters/],
      ['a huge body', () => postJson(`${bot.url}/v1/messages`, { text: 'x'.repeat(2_000_000) }), 413, 'PAYLOAD_TOO_LARGE', /Request body is too large/],
      ['a wait too long', () => postJson(`${bot.url}/v1/messages?wait=9999`, { text: 'x' }), 400, 'VALIDATION_ERROR', /querystring\.wait must be <= 60/],
      ['a wait that is not a number', () => postJson(`${bot.url}/v1/messages?wait=soon`, { text: 'x' }), 400, 'VALIDATION_ERROR', /querystring\.wait must be number/],
      ['an empty body', () => postJson(`${bot.url}/v1/messages`, ''), 400, 'EMPTY_BODY', /empty/i],
      ['an unknown route', () => getJson(`${bot.url}/v2/nothing`), 404, 'ROUTE_NOT_FOUND', /no route GET \/v2\/nothing/],
      ['an unknown message', () => getJson(`${bot.url}/v1/messages/does-not-exist`), 404, 'MESSAGE_NOT_FOUND', /does-not-exist/],
      ['a bad page size', () => getJson(`${bot.url}/v1/conversations/x?limit=0`), 400, 'VALIDATION_ERROR', /querystring\.limit must be >= 1/],
      ['a retry with neither ids nor all', () => postJson(`${bot.url}/v1/admin/queue/retry`, {}), 400, 'VALIDATION_ERROR', /either "ids"/],
    ];
    for (const [what, send, status, code, message] of cases) {
      it(`${what} -> ${status} ${code}`, async () => {
        const res = await send();
        expect(res.status).toBe(status);
        expect(res.body.error.code).toBe(code);
        expect(res.body.error.message).toMatch(message);
      });
    }

    it('a wrong content type -> 415', async () => {
      const res = await fetch(`${bot.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b' });
      expect(res.status).toBe(415);
      expect(((await res.json()) as any).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });
  });
});

describe('HTTP API: admin queue routes', () => {
  it('lists dead letters and retries them', async () => {
    let failing = true;
    const bot = await startPincer({ PINCER_QUEUE_MAX_ATTEMPTS: '1' }, (p) => {
      p.registry.addResponder({ name: 'flaky', order: 1, respond: () => { if (failing) throw new Error('upstream is down'); return { text: 'recovered' }; } });
    });
    try {
      const sent = await postJson(`${bot.url}/v1/messages?wait=5`, { text: 'hi' });
      expect(sent.body).toMatchObject({ status: 'dead', lastError: 'responder flaky: upstream is down' });
      const dead = await getJson(`${bot.url}/v1/admin/queue/dead`);
      expect(dead.body.messages.map((m: any) => m.id)).toEqual([sent.body.id]);
      const stats = await getJson(`${bot.url}/v1/admin/queue/stats`);
      expect(stats.body.queue).toMatchObject({ backend: 'sqlite', byState: { dead: 1 }, limit: 10_000 });
      expect(stats.body.workers).toMatchObject({ concurrency: 32, running: true });
      failing = false;
      const retried = await postJson(`${bot.url}/v1/admin/queue/retry`, { ids: [sent.body.id] });
      expect(retried.body).toEqual({ retried: 1 });
      await waitForTerminal(bot.pincer.store.events, sent.body.id, 5000);
      const after = await getJson(`${bot.url}/v1/messages/${sent.body.id}`);
      expect(after.body).toMatchObject({ status: 'done', reply: { text: 'recovered' } });
    } finally {
      await bot.close();
    }
  });

  it('answers 429 with Retry-After when the queue is full past its cap', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const bot = await startPincer({ PINCER_QUEUE_MAX_LENGTH: '3', PINCER_QUEUE_MAX_LENGTH_CAP: '3' }, (p) => {
      p.registry.addResponder({ name: 'blocked', order: 1, respond: async () => { await gate; return { text: 'ok' }; } });
    });
    try {
      for (let i = 0; i < 3; i++) expect((await postJson(`${bot.url}/v1/messages`, { text: `m${i}` })).status).toBe(202);
      const full = await postJson(`${bot.url}/v1/messages`, { text: 'one too many' });
      expect(full.status).toBe(429);
      expect(full.body.error.code).toBe('QUEUE_FULL');
      expect(full.body.error.message).toMatch(/queue is full \(3 of 3/);
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      release();
      await bot.pincer.workers.stop();
    } finally {
      release();
      await bot.close();
    }
  });
});

describe('HTTP API: authentication', () => {
  it('needs a bearer token on /v1 and an admin token on /v1/admin when tokens are set', async () => {
    const bot = await startPincer({ PINCER_API_TOKENS: 'user-token-123', PINCER_ADMIN_TOKENS: 'admin-token-456' });
    try {
      const url = `${bot.url}/v1/messages`;
      const none = await postJson(url, { text: '/ping' });
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(none.body.error.code).toBe('UNAUTHORIZED');
      expect((await postJson(url, { text: '/ping' }, { authorization: 'Bearer wrong-token' })).status).toBe(401);
      expect((await postJson(url, { text: '/ping' }, { authorization: 'Bearer user-token-123' })).status).toBe(202);
      expect((await postJson(url, { text: '/ping' }, { authorization: 'Bearer admin-token-456' })).status).toBe(202);
      const admin = `${bot.url}/v1/admin/queue/stats`;
      expect((await getJson(admin, { authorization: 'Bearer user-token-123' })).status).toBe(403);
      expect((await getJson(admin, { authorization: 'Bearer admin-token-456' })).status).toBe(200);
      expect((await fetch(`${bot.url}/health`)).status).toBe(200);
      // Percent-escaped paths reach the same routes, so they must meet the same checks.
      expect((await getJson(`${bot.url}/%761/admin/queue/stats`)).status).toBe(401);
      expect((await getJson(`${bot.url}/v1/%61dmin/queue/stats`, { authorization: 'Bearer user-token-123' })).status).toBe(403);
      const escaped = await postJson(`${bot.url}/%761/messages`, { text: '/ping' });
      expect(escaped.status).toBe(401);
      bot.pincer.log.info({ req: { headers: { authorization: 'Bearer user-token-123' } }, apiKey: 'sk-secret-value', config: { auth: { tokens: ['user-token-123'] } } }, 'secrets test');
      bot.pincer.log.flush();
      const raw = bot.logs.raw.join('\n');
      expect(raw).toContain('secrets test');
      expect(raw).not.toContain('user-token-123');
      expect(raw).not.toContain('sk-secret-value');
    } finally {
      await bot.close();
    }
  });

  it('refuses to start on a non-loopback address without tokens', async () => {
    const { dir, cleanup } = tempDir();
    await expect(Pincer.create({ config: testConfig(dir, { PINCER_HOST: '0.0.0.0' }) })).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without API tokens/);
    const ok = await Pincer.create({ config: testConfig(dir, { PINCER_HOST: '0.0.0.0', PINCER_API_TOKENS: 'some-long-token' }), logDestination: process.stderr });
    await ok.close();
    cleanup();
  });

  it('runs two instances side by side in one process', async () => {
    const a = await startPincer();
    const b = await startPincer();
    try {
      const ra = await postJson(`${a.url}/v1/messages?wait=5`, { text: '/echo from a' });
      const rb = await postJson(`${b.url}/v1/messages?wait=5`, { text: '/echo from b' });
      expect(ra.body.reply.text).toBe('from a');
      expect(rb.body.reply.text).toBe('from b');
      expect((await getJson(`${a.url}/v1/messages/${rb.body.id}`)).status).toBe(404);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('HTTP API: /health for load balancers', () => {
  it('answers 503 once the node cannot reach its store', async () => {
    const bot = await startPincer();
    try {
      const ok = await fetch(`${bot.url}/health`);
      expect([ok.status, await ok.text()]).toEqual([200, 'OK']);
      // The store goes away under a running server (as a lost disk or database would).
      await bot.pincer.store.close();
      const down = await fetch(`${bot.url}/health`);
      expect(down.status).toBe(503);
      expect(await down.text()).toMatch(/^UNAVAILABLE: store: /);
    } finally {
      await bot.close();
    }
  });
});
