/** Settings from config.json, after Pincer merged and validated them. */
export interface LanguageConfig {
  min_length: number;
  min_confidence: number;
  only: string[];
  max_candidates: number;
}

export type Candidate = {
  /** ISO 639-1 code, e.g. "en". */
  code: string;
  /** tinyld's accuracy, 0..1, rounded to 4 places. */
  confidence: number;
};

/**
 * Stored under `analysis.language`; also the `data` of a /language reply. A type alias, not an
 * interface, so that it is assignable to Pincer's JsonValue.
 */
export type LanguageResult = {
  /** ISO 639-1 code, or "und" (undetermined) when the text is too short or the guess too weak. */
  code: string;
  /** English name of the language, e.g. "Spanish"; empty for "und". */
  name: string;
  confidence: number;
  /** The best guesses, best first (the first is `code` unless it was "und"); absent when max_candidates is 0. */
  candidates?: Candidate[];
};

/** Config checked and turned into what detection needs. */
export interface DetectionSettings {
  minLength: number;
  minConfidence: number;
  only: string[];
  maxCandidates: number;
}
