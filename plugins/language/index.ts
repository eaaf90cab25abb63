import type { PluginDefinition } from 'pincer/plugin';
import { detectLanguage, languageText, settingsFrom } from './core.js';
import type { LanguageConfig } from './models.js';

/** Detects every message's language and answers /language. */
export const plugin: PluginDefinition<LanguageConfig> = {
  setup(ctx) {
    const settings = settingsFrom(ctx.config);

    ctx.analyzer({
      name: 'language',
      analyze: ({ message }) => detectLanguage(message.text, settings),
    });
    ctx.command({
      name: 'language',
      description: 'tell which language a text is in',
      usage: '<text>',
      run: ({ args }) => {
        if (!args) return 'Usage: /language <text>';
        const result = detectLanguage(args, settings);
        return { text: languageText(result), data: result };
      },
    });
  },
};
