import { describe, expect, it } from 'vitest';
import { analyzeSentiment, createScorer, labelFor, sentimentText, thresholdsFrom } from '../core.js';

const score = createScorer();
const defaults = thresholdsFrom({ positive_threshold: 0.05, negative_threshold: -0.05, max_length: 10_000 });

describe('sentiment plugin core', () => {
  it('labels clearly positive, clearly negative and neutral English', () => {
    const positive = analyzeSentiment(score, 'I love this, it is wonderful and amazing!', defaults, 10_000);
    expect(positive.label).toBe('positive');
    expect(positive.score).toBeGreaterThan(0.5);

    const negative = analyzeSentiment(score, 'This is terrible, I hate it. Worst service ever.', defaults, 10_000);
    expect(negative.label).toBe('negative');
    expect(negative.score).toBeLessThan(-0.5);

    expect(analyzeSentiment(score, 'The meeting is at 3 pm in room 12.', defaults, 10_000)).toEqual({
      score: 0,
      label: 'neutral',
      truncated: false,
    });
  });

  it('handles negation', () => {
    expect(analyzeSentiment(score, 'I am not happy with this.', defaults, 10_000).label).toBe('negative');
  });

  it('respects the configured thresholds, inclusively', () => {
    const strict = { positive: 0.9, negative: -0.9 };
    // "fine" scores about 0.4: positive by default, neutral when only strong feelings count.
    expect(analyzeSentiment(score, 'It is fine I guess', defaults, 10_000).label).toBe('positive');
    expect(analyzeSentiment(score, 'It is fine I guess', strict, 10_000).label).toBe('neutral');

    expect(labelFor(0.05, defaults)).toBe('positive');
    expect(labelFor(-0.05, defaults)).toBe('negative');
    expect(labelFor(0.049, defaults)).toBe('neutral');
    expect(labelFor(0, { positive: 0, negative: 0 })).toBe('positive');
  });

  it('refuses thresholds where negative is above positive', () => {
    expect(() => thresholdsFrom({ positive_threshold: -0.2, negative_threshold: 0.2, max_length: 10 })).toThrow(
      /must not be above/,
    );
  });

  it('scores only the beginning of overlong text and says so', () => {
    const result = analyzeSentiment(score, 'The meeting is at 3 pm. I love it!', defaults, 23);
    expect(result).toEqual({ score: 0, label: 'neutral', truncated: true });
    expect(sentimentText(result)).toBe(
      'Sentiment: neutral (score 0.00 on a scale from -1 to 1) (only the beginning was scored)',
    );
  });

  it('rounds the score and describes it in a sentence', () => {
    const result = analyzeSentiment(score, 'This is terrible, I hate it. Worst service ever.', defaults, 10_000);
    expect(result.score).toBe(-0.622);
    expect(sentimentText(result)).toBe('Sentiment: negative (score -0.62 on a scale from -1 to 1)');
  });

  it('calls empty text neutral', () => {
    expect(analyzeSentiment(score, '', defaults, 10_000)).toEqual({ score: 0, label: 'neutral', truncated: false });
  });
});
