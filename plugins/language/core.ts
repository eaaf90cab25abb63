import { detectAll, langName, toISO3, validateISO2 } from 'tinyld';
import type { Candidate, DetectionSettings, LanguageConfig, LanguageResult } from './models.js';

export const UNDETERMINED = 'und';

/** Checks the config once at setup, so a typo in `only` fails loudly instead of matching nothing. */
export function settingsFrom(config: LanguageConfig): DetectionSettings {
  const unknown = config.only.filter((code) => validateISO2(code) !== code);
  if (unknown.length > 0) {
    throw new Error(`language: tinyld does not know these codes in "only": ${unknown.join(', ')}`);
  }
  return {
    minLength: config.min_length,
    minConfidence: config.min_confidence,
    only: [...config.only],
    maxCandidates: config.max_candidates,
  };
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

export function languageName(code: string): string {
  return code === UNDETERMINED ? '' : langName(toISO3(code));
}

/**
 * Too-short text and weak guesses give "und" rather than no result: a consumer can then tell
 * "detection ran and could not decide" from "the plugin is not loaded".
 */
export function detectLanguage(text: string, s: DetectionSettings): LanguageResult {
  const trimmed = text.trim();
  // tinyld guesses wildly on a word or two ("Hola" gives nothing, "The cat" is 17% English).
  const guesses: Candidate[] =
    trimmed.length < s.minLength
      ? []
      : detectAll(trimmed, s.only.length > 0 ? { only: s.only } : {}).map((g) => ({
          code: g.lang,
          confidence: round(g.accuracy),
        }));
  const best = guesses[0];
  const decided = best !== undefined && best.confidence >= s.minConfidence;
  const result: LanguageResult = {
    code: decided ? best.code : UNDETERMINED,
    name: decided ? languageName(best.code) : '',
    confidence: decided ? best.confidence : 0,
  };
  if (s.maxCandidates > 0) result.candidates = guesses.slice(0, s.maxCandidates);
  return result;
}

export function languageText(result: LanguageResult): string {
  if (result.code === UNDETERMINED) {
    const hint = result.candidates?.[0] ? ` (best guess: ${describe(result.candidates[0])})` : '';
    return `I cannot tell which language that is${hint}.`;
  }
  return `Language: ${result.name} (${result.code}), confidence ${result.confidence.toFixed(2)}.`;
}

function describe(c: Candidate): string {
  return `${languageName(c.code) || c.code} (${c.code}) at ${c.confidence.toFixed(2)}`;
}
