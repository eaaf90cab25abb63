import type { PluginDefinition } from 'pincer/plugin';
import { webhookChannel } from './channel.js';

/** Pincer's generic webhook channel: signed messages in, signed replies out. */
export const plugin: PluginDefinition = {
  setup(ctx) {
    ctx.channel(webhookChannel);
  },
};
