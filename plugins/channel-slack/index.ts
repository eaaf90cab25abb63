import type { PluginDefinition } from 'pincer/plugin';
import { createSlackChannel } from './channel.js';

/** Slack as a Pincer channel: `channels.slack.accounts.<id>` in the config file (README.md). */
export const plugin: PluginDefinition = {
  setup(ctx) {
    ctx.channel(createSlackChannel({ log: ctx.log }));
  },
};
