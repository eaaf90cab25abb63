import winkNLP from 'wink-nlp';
import model from 'wink-eng-lite-web-model';
import type { SentimentConfig, SentimentLabel, SentimentResult, Scorer, Thresholds } from './models.js';

/**
 * Loads the English model and returns a scorer. Loading takes ~100 ms and a few MB, so call
 * this once per plugin, not per message.
 */
export function createScorer(): Scorer {
  // Sentiment needs only sentence boundaries and negation ("not good"); skipping POS, NER and
  // custom entities roughly halves the time per message and leaves the score unchanged.
  const nlp = winkNLP(model, ['sbd', 'negation', 'sentiment']);
  const its = nlp.its;
  // wink's typings allow a string from any out(); its.sentiment always yields a number.
  return (text) => nlp.readDoc(text).out(its.sentiment) as number;
}

/** Thresholds from config; refuses a pair that would make "positive" and "negative" overlap. */
export function thresholdsFrom(config: SentimentConfig): Thresholds {
  const t = { positive: config.positive_threshold, negative: config.negative_threshold };
  if (t.negative > t.positive) {
    throw new Error(
      `sentiment: negative_threshold (${t.negative}) must not be above positive_threshold (${t.positive})`,
    );
  }
  return t;
}

export function labelFor(score: number, t: Thresholds): SentimentLabel {
  if (score >= t.positive) return 'positive';
  if (score <= t.negative) return 'negative';
  return 'neutral';
}

export function analyzeSentiment(score: Scorer, text: string, t: Thresholds, maxLength: number): SentimentResult {
  // The analyzer runs on every message, so a pasted novel must not stall the pipeline.
  const truncated = text.length > maxLength;
  // Rounding keeps stored analyses readable (wink returns values like 0.6219999999999999);
  // labelling the rounded score keeps label and score consistent for anyone re-checking them.
  const rounded = Math.round(score(truncated ? text.slice(0, maxLength) : text) * 10_000) / 10_000;
  return { score: rounded, label: labelFor(rounded, t), truncated };
}

export function sentimentText(result: SentimentResult): string {
  const note = result.truncated ? ' (only the beginning was scored)' : '';
  return `Sentiment: ${result.label} (score ${result.score.toFixed(2)} on a scale from -1 to 1)${note}`;
}
