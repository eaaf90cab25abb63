import type { PluginDefinition } from 'pincer/plugin';
import { analyzeSentiment, createScorer, sentimentText, thresholdsFrom } from './core.js';
import type { SentimentConfig } from './models.js';

/** Scores every message's sentiment (English) and answers /sentiment. */
export const plugin: PluginDefinition<SentimentConfig> = {
  setup(ctx) {
    const thresholds = thresholdsFrom(ctx.config);
    const score = createScorer();
    const analyze = (text: string) => analyzeSentiment(score, text, thresholds, ctx.config.max_length);

    ctx.analyzer({
      name: 'sentiment',
      analyze: ({ message }) => analyze(message.text),
    });
    ctx.command({
      name: 'sentiment',
      description: 'score the sentiment of a text, from -1 (negative) to 1 (positive)',
      usage: '<text>',
      run: ({ args }) => {
        if (!args) return 'Usage: /sentiment <text>';
        const result = analyze(args);
        return { text: sentimentText(result), data: result };
      },
    });
  },
};
