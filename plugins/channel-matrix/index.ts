import type { PluginDefinition } from 'pincer/plugin';
import { createMatrixChannel } from './channel.js';

/** Matrix as a Pincer channel: `channels.matrix.accounts.<id>` in the config file (README.md). */
export const plugin: PluginDefinition = {
  setup(ctx) {
    ctx.channel(createMatrixChannel({ log: ctx.log }));
  },
};
