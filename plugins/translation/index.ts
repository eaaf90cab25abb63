import type { PluginDefinition } from 'pincer/plugin';
import { Translator, commandReply, routeReply, settingsFrom } from './core.js';
import type { TranslationConfig, TranslatorService } from './models.js';

/**
 * Offline translation through Debian's Apertium: /translate, the `translator` service and
 * POST /translate. Without Apertium or its default pair the plugin stays loaded, reports
 * itself unavailable and says how to install it, rather than answering with a fake translation.
 */
export const plugin: PluginDefinition<TranslationConfig> = {
  provides: ['translator'],
  async setup(ctx) {
    const settings = settingsFrom(ctx.config);
    const translator = new Translator(settings, ({ problem }) => {
      if (problem) ctx.log.warn('translation unavailable', { reason: problem });
      else ctx.log.info('translation available again');
      ctx.status(problem ? 'unavailable' : 'ok', problem);
    });
    await translator.check();

    ctx.command({
      name: 'translate',
      description: 'translate a text offline with Apertium',
      usage: '[pair] <text>',
      run: ({ args, signal }) => commandReply(translator, args, settings.defaultPair, signal),
    });
    const service: TranslatorService = {
      translate: (text, pair) => translator.translate(text, pair),
      pairs: () => translator.pairs(),
    };
    ctx.provide('translator', service);
    ctx.route({ method: 'POST', path: '/translate', handler: ({ body }) => routeReply(translator, body) });
  },
};
