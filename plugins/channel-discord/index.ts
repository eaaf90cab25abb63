import type { PluginDefinition } from 'pincer/plugin';
import { createDiscordChannel } from './channel.js';

/** Discord as a Pincer channel: `channels.discord.accounts.<id>` in the config file (README.md). */
export const plugin: PluginDefinition = {
  setup(ctx) {
    ctx.channel(createDiscordChannel({ log: ctx.log, commands: () => ctx.pincer.commands() }));
  },
};
