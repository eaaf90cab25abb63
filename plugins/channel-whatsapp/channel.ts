/**
 * The WhatsApp Cloud API channel: webhooks in (the GET handshake, signed POSTs), one Graph call
 * per text message out. WhatsApp cannot edit a sent message, so replies go out final-only; it
 * cannot dedupe a repeated send either, so a send that may have arrived is held (idempotentSend
 * 'none'); every send carries its part's id as biz_opaque_callback_data, so the status Meta
 * sends for it later proves such a send arrived (core then goes on instead of holding it).
 * No typing indicator: the Cloud API ties it to marking the user's message read.
 */
import { ChannelError, settingsForCall } from 'pincer/channel-kit';
import type { ChannelAccount, ChannelSpec, JsonObject, JsonValue, PluginLogger, WebhookVerdict } from 'pincer/plugin';
import { graph, sentId } from './client.js';
import { checkSignature, parseNotification, verifyHandshake } from './parse.js';
import { renderParts } from './render.js';
import { rateBuckets, whatsappSettings, WhatsAppSettingsError, type WhatsAppSettings } from './settings.js';

export interface WhatsAppChannelOptions {
  log: PluginLogger;
}

const WA_ID = /^\d{5,20}$/;
const isObject = (value: JsonValue | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const settingsOrPermanent = (account: ChannelAccount): WhatsAppSettings => settingsForCall(() => whatsappSettings(account));

export function createWhatsAppChannel(options: WhatsAppChannelOptions): ChannelSpec {
  const { log } = options;
  return {
    id: 'whatsapp',
    capabilities: { edit: false, typing: false, idempotentSend: 'none', textLimit: 4096, transports: ['webhook'] },

    webhook(request, account): WebhookVerdict {
      let settings: WhatsAppSettings;
      try {
        settings = whatsappSettings(account);
      } catch (error) {
        // Meta did nothing wrong; a 5xx makes it deliver again once the operator has fixed it.
        if (error instanceof WhatsAppSettingsError) return { accept: false, status: 500, code: error.code, message: error.message };
        throw error;
      }
      if (request.method === 'GET') return verifyHandshake(request.query, settings.verifyToken);
      if (settings.appSecret === undefined) {
        return { accept: false, status: 500, code: 'CHANNEL_ACCOUNT_INVALID', message: `channels.whatsapp.accounts.${account.id}.app_secret is not set (or WHATSAPP_APP_SECRET): signatures cannot be checked` };
      }
      const refused = checkSignature(request, settings.appSecret);
      if (refused !== undefined) return refused;
      let body: JsonValue;
      try {
        body = JSON.parse(request.body) as JsonValue;
      } catch {
        return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'the body is not JSON' };
      }
      const parsed = parseNotification(body, settings.phoneNumberId);
      if (parsed === undefined) return { accept: false, status: 400, code: 'CHANNEL_WEBHOOK_INVALID', message: 'entry: the body is not a WhatsApp change notification' };
      if (parsed.foreign > 0) log.debug('whatsapp messages for another phone number skipped', { account: account.id, count: parsed.foreign });
      // Core logs a failed status with its delivery, and counts every one.
      return { accept: true, events: parsed.events, ...(parsed.receipts.length > 0 && { receipts: parsed.receipts }) };
    },

    /** Reads the phone number with the token: a refused token or a wrong id stops the account here. */
    async connect(account, signal) {
      // A setting that cannot work is as final as a refused token: the account stops, named.
      const settings = settingsOrPermanent(account);
      if (settings.appSecret === undefined) throw new ChannelError('permanent', `channels.whatsapp.accounts.${account.id}.app_secret is not set (or WHATSAPP_APP_SECRET): webhook calls could not be verified`);
      if (settings.verifyToken === undefined) log.warn('whatsapp verify_token is not set: Meta cannot verify the webhook URL', { account: account.id });
      const number = (await graph(settings, { method: 'GET', path: `${settings.phoneNumberId}?fields=display_phone_number,verified_name` }, signal)) as JsonObject;
      log.info('whatsapp account connected', { account: account.id, number: typeof number.display_phone_number === 'string' ? number.display_phone_number : settings.phoneNumberId });
    },

    plan(markdown, target, account, extras) {
      const settings = whatsappSettings(account);
      return { parts: renderParts(markdown, settings.textLimit, extras?.buttons), buckets: rateBuckets(settings, target.conversation.id) };
    },

    async send(part, target, account, signal) {
      const settings = settingsOrPermanent(account);
      const to = target.conversation.id;
      if (!WA_ID.test(to)) throw new ChannelError('permanent', `"${to.slice(0, 40)}" is not a WhatsApp id (wa_id digits)`);
      const interactive = part.extra?.interactive;
      const reference = part.extra?.webhookId;
      const body: JsonObject = {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to,
        ...(isObject(interactive) ? { type: 'interactive', interactive: { ...interactive, body: { text: part.text } } } : { type: 'text', text: { body: part.text, preview_url: settings.previewUrl } }),
        // Core passes replyTo for the first part only: that one quotes the user's message.
        ...(target.replyTo !== undefined && { context: { message_id: target.replyTo } }),
        // The part's stable id: Meta echoes it in every status of this message, which is how a
        // receipt finds its delivery, and proves a send whose answer was lost arrived.
        ...(typeof reference === 'string' && { biz_opaque_callback_data: reference }),
      };
      const answer = await graph(settings, { method: 'POST', path: `${settings.phoneNumberId}/messages`, body }, signal);
      const id = sentId(answer);
      return id === undefined ? {} : { platformMessageId: id };
    },
  };
}
