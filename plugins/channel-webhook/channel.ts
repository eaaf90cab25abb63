import type { ChannelAccount, ChannelSpec } from 'pincer/plugin';
import { inboundSettings, outboundSettings, ratePerSecond } from './account.js';
import { receive, TEXT_LIMIT } from './inbound.js';
import { plan, send } from './outbound.js';

/**
 * The generic webhook channel: any system that can sign a Standard Webhooks call talks to the
 * bot, and gets its replies the same way. Receivers dedupe by webhook-id, so a send that may
 * have arrived is simply sent again (`idempotentSend: native`; on_ambiguous defaults to resend).
 */
export const webhookChannel: ChannelSpec = {
  id: 'webhook',
  capabilities: { edit: false, typing: false, idempotentSend: 'native', textLimit: TEXT_LIMIT, transports: ['webhook'] },
  webhook: (request, account) => receive(request, account),
  plan,
  send,
  // No platform to call: only the settings are checked, so a wrong one shows at start, by name.
  async connect(account: ChannelAccount) {
    inboundSettings(account);
    if (account.config.callback_url !== undefined) outboundSettings(account);
    ratePerSecond(account);
  },
};
