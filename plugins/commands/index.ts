import type { PluginDefinition } from 'pincer/plugin';
import { echoText, helpText, statsFigures, statsText } from './core.js';
import type { CommandsConfig } from './models.js';

/** The chat commands every bot starts with. Other plugins add theirs; /help lists them all. */
export const plugin: PluginDefinition<CommandsConfig> = {
  setup(ctx) {
    ctx.command({
      name: 'help',
      description: 'list the commands I understand',
      run: async () => helpText(ctx.pincer.botName, ctx.pincer.version, await ctx.pincer.commands()),
    });
    ctx.command({ name: 'ping', description: 'check that I am alive', run: () => 'pong' });
    ctx.command({
      name: 'echo',
      description: 'repeat your text',
      usage: '<text>',
      run: ({ args }) => echoText(args, ctx.config.echo_max_length),
    });
    ctx.command({
      name: 'stats',
      description: 'queue and uptime figures',
      run: async () => {
        const figures = statsFigures(await ctx.pincer.stats(), ctx.pincer.startedAt, Date.now());
        return { text: statsText(figures), data: { ...figures } };
      },
    });
  },
};
