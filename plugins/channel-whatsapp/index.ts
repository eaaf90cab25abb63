import type { PluginDefinition } from 'pincer/plugin';
import { createWhatsAppChannel } from './channel.js';

/** WhatsApp (Cloud API) as a Pincer channel: `channels.whatsapp.accounts.<id>` in the config file (README.md). */
export const plugin: PluginDefinition = {
  setup(ctx) {
    ctx.channel(createWhatsAppChannel({ log: ctx.log }));
  },
};
