import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { ChannelError } from 'pincer/channel-kit';
import type { ChannelAccount, ChannelTarget, JsonObject, RenderedPart } from 'pincer/plugin';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookReceiver } from '../../../test/support/fakes/webhook-receiver.js';
import { webhookChannel } from '../channel.js';
import { retryAfterMs, webhookId } from '../outbound.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CALLBACK_SECRET = 'the callback passphrase, long enough';
const target: ChannelTarget = { conversation: { kind: 'direct', id: 'c1' }, replyTo: 'm1' };
const part = (text: string, extra?: JsonObject): RenderedPart => ({ text, plain: text, ...(extra && { extra }) });

let receiver: WebhookReceiver;
let account: ChannelAccount;
beforeEach(async () => {
  receiver = await WebhookReceiver.start({ secret: CALLBACK_SECRET });
  account = { id: 'main', config: { secret: SECRET, callback_url: receiver.url, callback_secret: CALLBACK_SECRET } };
});
afterEach(async () => {
  await receiver.close();
});

const send = (p: RenderedPart, acct = account, signal = new AbortController().signal, to = target) => webhookChannel.send(p, to, acct, signal);

/** The ChannelError a send rejects with. */
async function refusal(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelError);
  return error as ChannelError;
}

describe('webhook channel: a reply out', () => {
  it('POSTs a signed reply the receiver verifies, and returns its id as the receipt', async () => {
    const receipt = await send(part('**hi**', { webhookId: 'd-1.0', partIndex: 0, partCount: 2 }));
    expect(receipt).toEqual({ platformMessageId: 'r1' });
    expect(receiver.rejected).toEqual([]);
    expect(receiver.accepted).toHaveLength(1);
    const call = receiver.accepted[0]!;
    expect(call.id).toBe('d-1.0');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.body).toEqual({ type: 'message.reply', conversationId: 'c1', replyTo: 'm1', text: '**hi**', partIndex: 0, partCount: 2 });
    expect(Math.abs(call.timestamp - Date.now() / 1000)).toBeLessThan(5);
  });

  it('carries a thread, and leaves out what the target lacks', async () => {
    await send(part('x'), account, undefined, { conversation: { kind: 'group', id: 'g', threadId: 't9' } });
    expect(receiver.accepted[0]!.body).toEqual({ type: 'message.reply', conversationId: 'g', threadId: 't9', text: 'x' });
  });

  it('signs with the inbound secret when there is no callback_secret', async () => {
    await receiver.close();
    receiver = await WebhookReceiver.start({ secret: SECRET });
    const receipt = await send(part('x'), { id: 'main', config: { secret: SECRET, callback_url: receiver.url } });
    expect(receipt.platformMessageId).toBe('r1');
  });

  it('a signature the receiver refuses is permanent, pointing at callback_secret', async () => {
    const error = await refusal(send(part('x'), { id: 'main', config: { secret: SECRET, callback_url: receiver.url } }));
    expect(error).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('refused the signature (401); check callback_secret') });
    expect(receiver.rejected.map((r) => r.code)).toEqual(['CHANNEL_WEBHOOK_BAD_SIGNATURE']);
  });

  describe('the webhook-id', () => {
    it('is the same on every attempt, so the receiver shows a resent part once', async () => {
      const first = await send(part('same words'));
      const again = await send(part('same words'));
      expect(again).toEqual(first);
      expect(receiver.accepted).toHaveLength(1);
      expect(receiver.duplicates).toHaveLength(1);
      expect(receiver.duplicates[0]!.id).toBe(receiver.accepted[0]!.id);
      expect(receiver.accepted[0]!.id).toMatch(/^pincer_[A-Za-z0-9_-]{32}$/);
    });

    it('comes from extra.webhookId, else deliveryId and the part index, else the content', () => {
      expect(webhookId(part('x', { webhookId: 'given' }), target)).toBe('given');
      expect(webhookId(part('x', { deliveryId: 'dl_7', partIndex: 3 }), target)).toBe('dl_7.3');
      expect(webhookId(part('x', { deliveryId: 'dl_7' }), target)).toBe('dl_7.0');
      const hashed = webhookId(part('x'), target);
      expect(webhookId(part('x'), target)).toBe(hashed);
      expect(webhookId(part('y'), target)).not.toBe(hashed);
      expect(webhookId(part('x', { partIndex: 1 }), target)).not.toBe(hashed);
      expect(webhookId(part('x'), { ...target, replyTo: 'm2' })).not.toBe(hashed);
      expect(webhookId(part('x'), { conversation: { kind: 'direct', id: 'c2' }, replyTo: 'm1' })).not.toBe(hashed);
    });

    it('refuses one that cannot be a header, without calling', async () => {
      const error = await refusal(send(part('x', { webhookId: 'has a space' })));
      expect(error).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('webhook-id') });
      expect(receiver.calls).toBe(0);
    });
  });

  describe('classifies what the receiver answers', () => {
    it('429 with Retry-After in seconds: rate limited for that long', async () => {
      receiver.enqueueFault({ type: 'status', status: 429, retryAfter: '7' });
      expect(await refusal(send(part('x')))).toMatchObject({ errorClass: 'rate_limited', retryAfterMs: 7_000 });
    });

    it('429 with Retry-After as an HTTP date: rate limited until then', async () => {
      const until = Date.now() + 30_000;
      receiver.enqueueFault({ type: 'status', status: 429, retryAfter: new Date(until).toUTCString() });
      const error = await refusal(send(part('x')));
      expect(error.errorClass).toBe('rate_limited');
      // The date has whole seconds, and the call took a little.
      expect(error.retryAfterMs).toBeGreaterThan(28_000);
      expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
    });

    it('429 without Retry-After: rate limited, the wait left to the scheduler', async () => {
      receiver.enqueueFault({ type: 'status', status: 429 });
      const error = await refusal(send(part('x')));
      expect(error.errorClass).toBe('rate_limited');
      expect(error.retryAfterMs).toBeUndefined();
    });

    it('410: permanent, the receiver gave up on the conversation', async () => {
      receiver.enqueueFault({ type: 'status', status: 410, body: { error: 'conversation closed' } });
      expect(await refusal(send(part('x')))).toMatchObject({ errorClass: 'permanent', message: 'the receiver gave up on this conversation (410): {"error":"conversation closed"}' });
    });

    it('other 4xx: permanent, with what the receiver said', async () => {
      for (const status of [400, 404, 413, 422]) {
        receiver.enqueueFault({ type: 'status', status, body: { error: 'nope' } });
        expect(await refusal(send(part('x')))).toMatchObject({ errorClass: 'permanent', message: `the receiver refused the reply (${status}): {"error":"nope"}` });
      }
    });

    it('5xx: transient, and the resend after it arrives once', async () => {
      for (const status of [500, 502, 503]) {
        receiver.enqueueFault({ type: 'status', status });
        expect(await refusal(send(part('x')))).toMatchObject({ errorClass: 'transient', message: expect.stringContaining(`failed (${status})`) });
      }
      expect(await send(part('x'))).toEqual({ platformMessageId: 'r1' });
      expect(receiver.accepted).toHaveLength(1);
    });

    it('a 2xx without an id in its body: sent, with no platform id', async () => {
      receiver.enqueueFault({ type: 'status', status: 204 });
      expect(await send(part('x'))).toEqual({});
      receiver.enqueueFault({ type: 'status', status: 202, body: { id: 17 } });
      expect(await send(part('y'))).toEqual({ platformMessageId: '17' });
    });

    it('a redirect: permanent, since it is not followed', async () => {
      receiver.enqueueFault({ type: 'status', status: 301 });
      expect(await refusal(send(part('x')))).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining('redirects are not followed') });
    });
  });

  describe('classifies a call that got no answer', () => {
    it('refused connection: transient (nothing was sent)', async () => {
      const server = createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      server.close();
      await once(server, 'close');
      const closed = { id: 'main', config: { secret: SECRET, callback_url: `http://127.0.0.1:${port}/hook` } };
      expect(await refusal(send(part('x'), closed))).toMatchObject({ errorClass: 'transient', message: expect.stringContaining('ECONNREFUSED') });
    });

    it('connection dropped after the request was read: ambiguous, and the resend is deduped', async () => {
      receiver.enqueueFault({ type: 'drop' });
      expect(await refusal(send(part('x')))).toMatchObject({ errorClass: 'ambiguous', message: expect.stringContaining('failed after it was sent') });
      expect(receiver.accepted).toHaveLength(1);
      await send(part('x'));
      expect(receiver.duplicates).toHaveLength(1);
    });

    it('no answer within the timeout: ambiguous', async () => {
      receiver.enqueueFault({ type: 'delay', ms: 10_000 });
      const slow = { ...account, config: { ...account.config, timeout: '200ms' } };
      const started = performance.now();
      expect(await refusal(send(part('x'), slow))).toMatchObject({ errorClass: 'ambiguous', message: expect.stringContaining('within 200 ms') });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(receiver.accepted).toHaveLength(1);
    });

    it('aborted by Pincer: ambiguous', async () => {
      receiver.enqueueFault({ type: 'delay', ms: 10_000 });
      const abort = new AbortController();
      const sending = send(part('x'), account, abort.signal);
      await receiver.until((r) => r.accepted.length === 1);
      abort.abort();
      expect(await refusal(sending)).toMatchObject({ errorClass: 'ambiguous', message: expect.stringContaining('aborted') });
    });
  });

  it('without a usable callback_url or timeout: permanent, naming the setting, without calling', async () => {
    const cases: Array<[JsonObject, string]> = [
      [{ secret: SECRET }, 'channels.webhook.accounts.main.callback_url: not set'],
      [{ secret: SECRET, callback_url: 'not a url' }, 'callback_url: "not a url" is not a URL'],
      [{ secret: SECRET, callback_url: 'ftp://host/x' }, 'callback_url: must be an http: or https: URL'],
      [{ callback_url: receiver.url }, 'channels.webhook.accounts.main.secret: not set'],
      [{ secret: SECRET, callback_url: receiver.url, callback_secret: 'short' }, 'callback_secret: a webhook secret must be'],
      [{ secret: SECRET, callback_url: receiver.url, timeout: 'later' }, 'timeout: expected a duration'],
      [{ secret: SECRET, callback_url: receiver.url, timeout: 0 }, 'timeout: must be more than zero'],
    ];
    for (const [config, message] of cases) {
      expect(await refusal(send(part('x'), { id: 'main', config }))).toMatchObject({ errorClass: 'permanent', message: expect.stringContaining(message) });
    }
    expect(receiver.calls).toBe(0);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads seconds and HTTP dates, and nothing else', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:45 GMT', now)).toBe(45_000);
    expect(retryAfterMs('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
    expect(retryAfterMs(['3', '9'], now)).toBe(3_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
