/** Settings from config.json, after Pincer merged and validated them. */
export interface SentimentConfig {
  positive_threshold: number;
  negative_threshold: number;
  max_length: number;
}

export type SentimentLabel = 'positive' | 'negative' | 'neutral';

/**
 * Stored under `analysis.sentiment`; also the `data` of a /sentiment reply. A type alias, not an
 * interface, so that it is assignable to Pincer's JsonValue.
 */
export type SentimentResult = {
  /** wink-nlp's normalized score, -1 (very negative) to 1 (very positive), rounded to 4 places. */
  score: number;
  label: SentimentLabel;
  /** True when only the first `max_length` characters were scored. */
  truncated: boolean;
};

export interface Thresholds {
  positive: number;
  negative: number;
}

/** Maps text to wink-nlp's normalized sentiment score. */
export type Scorer = (text: string) => number;
