import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { webhookHeaders } from '../../../src/channels/kit/standard-webhooks.js';
import { WebhookReceiver } from '../../support/fakes/webhook-receiver.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let receiver: WebhookReceiver;
beforeEach(async () => {
  receiver = await WebhookReceiver.start({ secret: SECRET });
});
afterEach(async () => {
  await receiver.close();
});

async function post(id: string, payload: unknown, headers: Record<string, string> = webhookHeaders(SECRET, id, JSON.stringify(payload))) {
  const response = await request(receiver.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text ? (JSON.parse(text) as any) : undefined };
}

describe('the fake webhook receiver', () => {
  it('records a signed call and answers it with an id', async () => {
    const answer = await post('m1', { text: 'hi' });
    expect(answer).toMatchObject({ status: 200, body: { id: 'r1' } });
    expect(receiver.accepted).toHaveLength(1);
    expect(receiver.accepted[0]).toMatchObject({ id: 'm1', body: { text: 'hi' }, raw: '{"text":"hi"}', responseId: 'r1' });
    expect(receiver.accepted[0]!.headers['webhook-signature']).toMatch(/^v1,/);
  });

  it('refuses a bad or missing signature with 401 and records why', async () => {
    const forged = { ...webhookHeaders('another secret of some length', 'm1', '{}') };
    expect(await post('m1', {}, forged)).toMatchObject({ status: 401, body: { error: { code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' } } });
    // Signed over another body than the one sent.
    expect((await post('m2', { a: 2 }, webhookHeaders(SECRET, 'm2', '{"a":1}'))).status).toBe(401);
    expect(await post('m3', {}, {})).toMatchObject({ status: 401, body: { error: { code: 'CHANNEL_WEBHOOK_UNSIGNED' } } });
    const stale = webhookHeaders(SECRET, 'm4', '{}', Date.now() - 600_000);
    expect(await post('m4', {}, stale)).toMatchObject({ status: 401, body: { error: { code: 'CHANNEL_WEBHOOK_STALE' } } });
    expect(receiver.rejected.map((r) => r.code)).toEqual(['CHANNEL_WEBHOOK_BAD_SIGNATURE', 'CHANNEL_WEBHOOK_BAD_SIGNATURE', 'CHANNEL_WEBHOOK_UNSIGNED', 'CHANNEL_WEBHOOK_STALE']);
    expect(receiver.accepted).toEqual([]);
  });

  it('processes each webhook-id once, answering a repeat as the first and recording it', async () => {
    await post('m1', { n: 1 });
    await post('m2', { n: 2 });
    const again = await post('m1', { n: 1 });
    expect(again).toMatchObject({ status: 200, body: { id: 'r1' } });
    expect(receiver.accepted.map((c) => c.id)).toEqual(['m1', 'm2']);
    expect(receiver.duplicates.map((c) => [c.id, c.responseId])).toEqual([['m1', 'r1']]);
  });

  it('answers the next calls with scripted statuses and Retry-After, without processing them', async () => {
    receiver.enqueueFault({ type: 'status', status: 429, retryAfter: '7' });
    receiver.enqueueFault({ type: 'status', status: 500 }, 2);
    expect(receiver.pendingFaults).toBe(3);
    const limited = await post('m1', {});
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect((await post('m1', {})).status).toBe(500);
    expect((await post('m1', {})).status).toBe(500);
    expect(receiver.accepted).toEqual([]);
    expect(await post('m1', {})).toMatchObject({ status: 200, body: { id: 'r1' } });
    // A faulted call left no trace in the dedupe: the fourth try is the first processed.
    expect(receiver.duplicates).toEqual([]);
    expect(receiver.faulted.map((f) => f.fault.type === 'status' && f.fault.status)).toEqual([429, 500, 500]);
  });

  it('a bad signature does not use up a fault', async () => {
    receiver.enqueueFault({ type: 'status', status: 503 });
    expect((await post('m1', {}, {})).status).toBe(401);
    expect((await post('m1', {})).status).toBe(503);
  });

  it('a scripted 2xx processes the call and answers the given body', async () => {
    receiver.enqueueFault({ type: 'status', status: 202, body: { queued: true } });
    expect(await post('m1', {})).toMatchObject({ status: 202, body: { queued: true } });
    expect(receiver.accepted.map((c) => c.id)).toEqual(['m1']);
  });

  it('drops the connection after reading, having processed the call', async () => {
    receiver.enqueueFault({ type: 'drop' });
    await expect(post('m1', { text: 'lost answer' })).rejects.toMatchObject({ code: expect.stringMatching(/^(UND_ERR_SOCKET|ECONNRESET)$/) });
    expect(receiver.accepted.map((c) => c.id)).toEqual(['m1']);
    // The sender resends: a duplicate.
    expect((await post('m1', { text: 'lost answer' })).status).toBe(200);
    expect(receiver.duplicates.map((c) => c.id)).toEqual(['m1']);
  });

  it('delays its answer, having processed the call', async () => {
    receiver.enqueueFault({ type: 'delay', ms: 300 });
    const started = performance.now();
    const answer = post('m1', {});
    await receiver.until((r) => r.accepted.length === 1);
    expect(await answer).toMatchObject({ status: 200, body: { id: 'r1' } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('closes without waiting out a delayed answer', async () => {
    receiver.enqueueFault({ type: 'delay', ms: 60_000 });
    const answer = post('m1', {}).then(
      (a) => a.status,
      (error: unknown) => error,
    );
    await receiver.until((r) => r.accepted.length === 1);
    const started = performance.now();
    await receiver.close();
    // The delay is cut short at close: answered or cut off, the call settles at once.
    expect(await answer).toBeDefined();
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('verifies with any of several secrets, and waits for a condition', async () => {
    await receiver.close();
    receiver = await WebhookReceiver.start({ secret: ['a new secret, long enough', SECRET], path: '/in' });
    expect(receiver.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/in$/);
    const waiting = receiver.until((r) => r.accepted.length === 2);
    await post('m1', {});
    await post('m2', {}, webhookHeaders('a new secret, long enough', 'm2', '{}'));
    await waiting;
    await expect(receiver.until((r) => r.accepted.length === 3, 50)).rejects.toThrow(/not met within 50 ms \(2 calls\)/);
  });
});
