import { describe, expect, it } from 'vitest';
import type { JsonValue, WebhookRequest } from 'pincer/plugin';
import { createWhatsAppChannel } from '../channel.js';
import { hubSignature, parseNotification, verifyHandshake } from '../parse.js';

const PHONE = '106540352242922';
const SECRET = 'app-secret-0123456789';
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const channel = createWhatsAppChannel({ log: silent });
const account = { id: 'default', config: { phone_number_id: PHONE, access_token: 'EAAtoken', app_secret: SECRET, verify_token: 'vt-1' } };

function notification(value: Record<string, JsonValue>, phone = PHONE): JsonValue {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: phone }, ...value } }] }],
  };
}

const contacts = [{ profile: { name: 'Ann' }, wa_id: '4915100000001' }];
const message = (extra: Record<string, JsonValue>): Record<string, JsonValue> => ({ from: '4915100000001', id: 'wamid.A1', timestamp: '1733230000', ...extra });

function post(body: string, signature: string | null = hubSignature(SECRET, body)): WebhookRequest {
  return { method: 'POST', query: {}, headers: signature === null ? {} : { 'x-hub-signature-256': signature }, body };
}

describe('WhatsApp webhook parsing', () => {
  it('reads a text message as a direct message from its wa_id, named from contacts', () => {
    const parsed = parseNotification(notification({ contacts, messages: [message({ type: 'text', text: { body: 'hello' } })] }), PHONE);
    expect(parsed?.events).toEqual([
      expect.objectContaining({
        eventId: 'wamid.A1',
        messageId: 'wamid.A1',
        kind: 'message',
        conversation: { kind: 'direct', id: '4915100000001' },
        sender: { id: '4915100000001', name: 'Ann', isBot: false },
        text: 'hello',
        mentions: { bot: true },
        timestamp: 1733230000_000,
      }),
    ]);
  });

  it('reads "/cmd" as a command and a quoted bot message as a reply to the bot', () => {
    const parsed = parseNotification(notification({ contacts, messages: [message({ type: 'text', text: { body: '/help me' }, context: { from: '15550783881', id: 'wamid.BOT' } })] }), PHONE);
    expect(parsed?.events[0]).toMatchObject({ kind: 'command', text: '/help me', mentions: { bot: true, replyToBot: true }, replyTo: { messageId: 'wamid.BOT', senderId: '15550783881', isBot: true } });
  });

  it("turns button and list replies into actions whose text is the button's value (the id), the title kept", () => {
    const button = message({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: '/confirm 42', title: 'Yes' } } });
    const list = message({ id: 'wamid.A2', type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'row-2', title: 'Second', description: 'd' } } });
    const template = message({ id: 'wamid.A3', type: 'button', button: { payload: 'STOP', text: 'Stop promotions' } });
    const events = parseNotification(notification({ contacts, messages: [button, list, template] }), PHONE)?.events ?? [];
    expect(events.map((e) => [e.kind, e.action, e.text])).toEqual([
      ['action', { id: '/confirm 42', value: 'Yes' }, '/confirm 42'],
      ['action', { id: 'row-2', value: 'Second' }, 'row-2'],
      ['action', { id: 'STOP', value: 'Stop promotions' }, 'STOP'],
    ]);
  });

  it('names media it cannot read, keeping the caption and the media id in raw', () => {
    const image = message({ type: 'image', image: { id: 'MEDIA1', mime_type: 'image/jpeg', caption: 'look' } });
    const audio = message({ id: 'wamid.A2', type: 'audio', audio: { id: 'MEDIA2' } });
    const events = parseNotification(notification({ contacts, messages: [image, audio] }), PHONE)?.events ?? [];
    expect(events.map((e) => e.text)).toEqual(['[image] look', '[audio]']);
    expect(JSON.stringify(events[0]?.raw)).toContain('MEDIA1');
  });

  it('turns statuses into receipts with the echoed part id, and skips another phone number\'s messages and statuses', () => {
    const statuses = parseNotification(
      notification({
        statuses: [
          { id: 'wamid.S', status: 'delivered', timestamp: '1733230001', recipient_id: '4915100000001', biz_opaque_callback_data: 'd1.0' },
          { id: 'wamid.S', status: 'read', timestamp: '1733230002', recipient_id: '4915100000001' },
          { id: 'wamid.S', status: 'deleted', timestamp: '1733230003' },
        ],
      }),
      PHONE,
    );
    expect(statuses).toEqual({
      events: [],
      foreign: 0,
      receipts: [
        { platformMessageId: 'wamid.S', status: 'delivered', timestamp: 1733230001_000, reference: 'd1.0' },
        { platformMessageId: 'wamid.S', status: 'read', timestamp: 1733230002_000 },
      ],
    });
    const failed = parseNotification(
      notification({
        statuses: [
          { id: 'wamid.F', status: 'failed', timestamp: '1733230004', biz_opaque_callback_data: 'd2.1', errors: [{ code: 131047, title: 'Re-engagement message', error_data: { details: 'More than 24 hours have passed.' } }] },
          { id: 'wamid.G', status: 'failed', timestamp: '1733230005', errors: [{ code: 131026, title: 'Message undeliverable' }] },
        ],
      }),
      PHONE,
    );
    expect(failed?.receipts.map((r) => [r.reference, r.error])).toEqual([
      ['d2.1', "more than 24 h since the user's last message: only a template message can be sent (#131047 Re-engagement message: More than 24 hours have passed.)"],
      [undefined, '#131026 Message undeliverable'],
    ]);
    const other = parseNotification(notification({ contacts, messages: [message({ type: 'text', text: { body: 'x' } })], statuses: [{ id: 'wamid.O', status: 'sent' }] }, '999'), PHONE);
    expect(other).toEqual({ events: [], receipts: [], foreign: 2 });
  });
});

describe('WhatsApp webhook verification', () => {
  it('echoes hub.challenge for the right verify token only', () => {
    expect(verifyHandshake({ 'hub.mode': 'subscribe', 'hub.verify_token': 'vt-1', 'hub.challenge': '1158201444' }, 'vt-1')).toEqual({ accept: true, events: [], status: 200, body: '1158201444' });
    expect(verifyHandshake({ 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' }, 'vt-1')).toMatchObject({ accept: false, status: 403, code: 'CHANNEL_WEBHOOK_VERIFY_REFUSED' });
    expect(verifyHandshake({ 'hub.mode': 'subscribe', 'hub.verify_token': 'vt-1', 'hub.challenge': '1' }, undefined)).toMatchObject({ accept: false, status: 403 });
    expect(verifyHandshake({ 'hub.mode': 'unsubscribe', 'hub.verify_token': 'vt-1', 'hub.challenge': '1' }, 'vt-1')).toMatchObject({ accept: false, status: 403 });
  });

  it('takes a POST signed with the app secret and refuses a missing or wrong signature', async () => {
    const body = JSON.stringify(notification({ contacts, messages: [message({ type: 'text', text: { body: 'hi' } })] }));
    expect(await channel.webhook!(post(body), account)).toMatchObject({ accept: true, events: [expect.objectContaining({ text: 'hi' })] });
    expect(await channel.webhook!(post(body, null), account)).toMatchObject({ accept: false, status: 401, code: 'CHANNEL_WEBHOOK_UNSIGNED' });
    expect(await channel.webhook!(post(body, hubSignature('other-secret', body)), account)).toMatchObject({ accept: false, status: 401, code: 'CHANNEL_WEBHOOK_BAD_SIGNATURE' });
    // The signature covers the bytes: the same JSON re-serialized with a space is refused.
    expect(await channel.webhook!(post(body.replace('"hi"', '"hi" '), hubSignature(SECRET, body)), account)).toMatchObject({ accept: false, status: 401 });
    expect(await channel.webhook!(post('not json'), account)).toMatchObject({ accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID' });
    expect(await channel.webhook!(post('{}'), account)).toMatchObject({ accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID' });
  });

  it('answers 500 CHANNEL_ACCOUNT_INVALID without an app secret, so Meta delivers again once it is set', async () => {
    const body = '{}';
    const bare = { id: 'default', config: { phone_number_id: PHONE, access_token: 't' } };
    expect(await channel.webhook!(post(body), bare)).toMatchObject({ accept: false, status: 500, code: 'CHANNEL_ACCOUNT_INVALID' });
  });
});
