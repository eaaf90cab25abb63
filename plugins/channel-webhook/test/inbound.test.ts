import { webhookHeaders } from 'pincer/channel-kit';
import type { ChannelAccount, JsonObject, WebhookRequest } from 'pincer/plugin';
import { describe, expect, it } from 'vitest';
import { webhookChannel } from '../channel.js';
import { receive } from '../inbound.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NOW = 1_700_000_000_000;
const account = (config: JsonObject = {}): ChannelAccount => ({ id: 'main', config: { secret: SECRET, ...config } });

function signed(body: unknown, options: { id?: string; at?: number; secret?: string } = {}): WebhookRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { method: 'POST' as const, query: {}, headers: { ...webhookHeaders(options.secret ?? SECRET, options.id ?? 'msg_1', text, options.at ?? NOW) }, body: text };
}

const refusal = (request: WebhookRequest, acct = account()) => {
  const verdict = receive(request, acct, NOW);
  if (verdict.accept) throw new Error('accepted');
  return verdict;
};

describe('webhook channel: a message in', () => {
  it('accepts a signed message as one event keyed by its webhook-id, answering 202', async () => {
    const body = { text: 'hello there', sender: { id: 'u1', name: 'Ann' }, metadata: { order: 42 } };
    // The channel's entry point reads the wall clock; the rest of these tests fix it at NOW.
    const verdict = await webhookChannel.webhook!(signed(body, { id: 'msg_abc', at: Date.now() }), account());
    expect(verdict).toMatchObject({ accept: true, status: 202, body: { accepted: true }, events: [{ eventId: 'msg_abc' }] });
    expect(receive(signed(body, { id: 'msg_abc' }), account(), NOW)).toEqual({
      accept: true,
      status: 202,
      body: { accepted: true },
      events: [
        {
          eventId: 'msg_abc',
          messageId: 'msg_abc',
          kind: 'message',
          conversation: { kind: 'direct', id: 'u1' },
          sender: { id: 'u1', name: 'Ann', isBot: false },
          text: 'hello there',
          mentions: { bot: true },
          timestamp: NOW,
          raw: body,
        },
      ],
    });
  });

  it('takes a group conversation, a message id and a command', () => {
    const verdict = receive(signed({ text: '/ping now', sender: { id: 'u2' }, conversationId: 'room-7', kind: 'group', messageId: 'p-9' }), account(), NOW);
    expect(verdict.accept && verdict.events[0]).toMatchObject({
      eventId: 'msg_1',
      messageId: 'p-9',
      kind: 'command',
      conversation: { kind: 'group', id: 'room-7' },
      sender: { id: 'u2', isBot: false },
    });
    expect(receive(signed({ text: '/ not a command', sender: { id: 'u2' } }), account(), NOW)).toMatchObject({ events: [{ kind: 'message' }] });
  });

  it('refuses a bad signature, a stale call and missing headers with 401, by code', () => {
    expect(refusal(signed({ text: 'x', sender: { id: 'u' } }, { secret: 'somebody else entirely' }))).toEqual({
      accept: false,
      status: 401,
      code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE',
      message: 'no webhook-signature matches the body and the secret',
    });
    const tampered = { ...signed({ text: 'pay 1', sender: { id: 'u' } }), body: JSON.stringify({ text: 'pay 9', sender: { id: 'u' } }) };
    expect(refusal(tampered)).toMatchObject({ status: 401, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
    expect(refusal(signed({ text: 'x', sender: { id: 'u' } }, { at: NOW - 301_000 }))).toMatchObject({ status: 401, code: 'CHANNEL_WEBHOOK_STALE' });
    expect(refusal(signed({ text: 'x', sender: { id: 'u' } }, { at: NOW + 301_000 }))).toMatchObject({ status: 401, code: 'CHANNEL_WEBHOOK_STALE' });
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const request = signed({ text: 'x', sender: { id: 'u' } });
      const headers = { ...request.headers };
      delete headers[name];
      expect(refusal({ ...request, headers })).toEqual({ accept: false, status: 401, code: 'CHANNEL_WEBHOOK_UNSIGNED', message: `missing header ${name}` });
    }
  });

  it('holds calls to the account tolerance', () => {
    const late = signed({ text: 'x', sender: { id: 'u' } }, { at: NOW - 30_000 });
    expect(receive(late, account(), NOW).accept).toBe(true);
    expect(refusal(late, account({ timestamp_tolerance: '10s' }))).toMatchObject({ code: 'CHANNEL_WEBHOOK_STALE' });
    expect(refusal(late, account({ timestamp_tolerance: 20 }))).toMatchObject({ code: 'CHANNEL_WEBHOOK_STALE' });
  });

  it('checks the signature before the body, so an unsigned junk body is a 401', () => {
    expect(refusal({ method: 'POST' as const, query: {}, headers: {}, body: 'not json' })).toMatchObject({ status: 401, code: 'CHANNEL_WEBHOOK_UNSIGNED' });
  });

  const invalid: Array<[string, unknown, string]> = [
    ['not JSON', '{"text": ', 'body: not JSON'],
    ['an array', [{ text: 'x' }], 'body: must be a JSON object'],
    ['no text', { sender: { id: 'u' } }, 'text: required'],
    ['text not a string', { text: 5, sender: { id: 'u' } }, 'text: must be a string'],
    ['empty text', { text: '', sender: { id: 'u' } }, 'text: must be 1 to 32768 characters (it has 0)'],
    ['text too long', { text: 'a'.repeat(32_769), sender: { id: 'u' } }, 'text: must be 1 to 32768 characters (it has 32769)'],
    ['a NUL in the text', { text: 'a\u0000b', sender: { id: 'u' } }, 'text: must not contain a NUL character'],
    ['no sender', { text: 'x' }, 'sender: required'],
    ['sender a string', { text: 'x', sender: 'u' }, 'sender: must be an object with an id'],
    ['no sender id', { text: 'x', sender: { name: 'Ann' } }, 'sender.id: required'],
    ['a numeric sender id', { text: 'x', sender: { id: 7 } }, 'sender.id: must be a string'],
    ['an empty sender id', { text: 'x', sender: { id: '' } }, 'sender.id: must be 1 to 256 characters'],
    ['a control character in the sender id', { text: 'x', sender: { id: 'a\nb' } }, 'sender.id: must not contain control characters'],
    ['a sender name not a string', { text: 'x', sender: { id: 'u', name: ['Ann'] } }, 'sender.name: must be a string'],
    ['an unknown kind', { text: 'x', sender: { id: 'u' }, kind: 'channel' }, 'kind: must be "direct" or "group"'],
    ['a group without a conversation', { text: 'x', sender: { id: 'u' }, kind: 'group' }, 'conversationId: required when kind is "group"'],
    ['a conversation id too long', { text: 'x', sender: { id: 'u' }, conversationId: 'c'.repeat(257) }, 'conversationId: must be 1 to 256 characters'],
    ['a numeric message id', { text: 'x', sender: { id: 'u' }, messageId: 12 }, 'messageId: must be a string'],
    ['metadata not an object', { text: 'x', sender: { id: 'u' }, metadata: 'tags' }, 'metadata: must be an object'],
  ];
  it.each(invalid)('refuses %s with 400 CHANNEL_WEBHOOK_INVALID naming the field', (_what, body, message) => {
    const verdict = refusal(signed(body));
    expect(verdict).toMatchObject({ status: 400, code: 'CHANNEL_WEBHOOK_INVALID' });
    expect(verdict.message.startsWith(message)).toBe(true);
  });

  it('takes text of exactly the limit, and ignores fields it does not know', () => {
    const verdict = receive(signed({ text: 'a'.repeat(32_768), sender: { id: 'u' }, type: 'message.created', extra: [1] }), account(), NOW);
    expect(verdict.accept).toBe(true);
  });

  it('answers 500 with the setting named when the account has no usable secret', () => {
    const request = signed({ text: 'x', sender: { id: 'u' } });
    const noSecret: ChannelAccount = { id: 'main', config: {} };
    expect(refusal(request, noSecret)).toMatchObject({ status: 500, code: 'CHANNEL_ACCOUNT_INVALID', message: expect.stringMatching(/^channels\.webhook\.accounts\.main\.secret: not set/) });
    expect(refusal(request, account({ secret: 'too short' }))).toMatchObject({ status: 500, code: 'CHANNEL_ACCOUNT_INVALID', message: expect.stringContaining('16') });
    expect(refusal(request, account({ timestamp_tolerance: 'soon' }))).toMatchObject({ status: 500, message: expect.stringContaining('timestamp_tolerance') });
  });

  it('accepts a passphrase secret', () => {
    const passphrase = 'a long shared passphrase';
    expect(receive(signed({ text: 'x', sender: { id: 'u' } }, { secret: passphrase }), account({ secret: passphrase }), NOW).accept).toBe(true);
  });
});
