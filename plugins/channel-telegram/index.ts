import type { PluginDefinition } from 'pincer/plugin';
import { createTelegramChannel } from './channel.js';

/** Telegram as a Pincer channel: `channels.telegram.accounts.<id>` in the config file (README.md). */
export const plugin: PluginDefinition = {
  setup(ctx) {
    ctx.channel(createTelegramChannel({ log: ctx.log }));
  },
};
