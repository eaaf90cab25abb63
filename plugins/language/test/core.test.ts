import { describe, expect, it } from 'vitest';
import { detectLanguage, languageText, settingsFrom } from '../core.js';
import type { LanguageConfig } from '../models.js';

const defaults: LanguageConfig = { min_length: 8, min_confidence: 0.1, only: [], max_candidates: 3 };
const settings = (overrides: Partial<LanguageConfig> = {}) => settingsFrom({ ...defaults, ...overrides });

describe('language plugin core', () => {
  it.each([
    ['en', 'English', 'Hello, how are you doing today? I hope everything is fine.'],
    ['es', 'Spanish', '¿Dónde está la biblioteca? Necesito estudiar para el examen.'],
    ['fr', 'French', 'Je voudrais réserver une table pour deux personnes ce soir.'],
    ['de', 'German', 'Ich möchte heute Abend ins Kino gehen, kommst du mit?'],
  ])('detects %s', (code, name, text) => {
    const result = detectLanguage(text, settings());
    expect(result).toMatchObject({ code, name });
    expect(result.confidence).toBeGreaterThan(0.5);
    expect(result.candidates?.[0]).toEqual({ code, confidence: result.confidence });
    expect(result.candidates!.length).toBeLessThanOrEqual(3);
  });

  it('gives "und" for text shorter than min_length, without guessing', () => {
    expect(detectLanguage('  lol  ', settings())).toEqual({ code: 'und', name: '', confidence: 0, candidates: [] });
    expect(detectLanguage('Das ist gut', settings({ min_length: 20 })).code).toBe('und');
    expect(detectLanguage('Das ist gut', settings()).code).toBe('de');
  });

  it('gives "und" for a weak guess but keeps the candidates', () => {
    // Restricted to English and French, Spanish text matches neither well.
    const result = detectLanguage('Hola amigo, ¿cómo estás?', settings({ only: ['en', 'fr'] }));
    expect(result.code).toBe('und');
    expect(result.candidates?.length).toBeGreaterThan(0);
    expect(result.candidates!.every((c) => ['en', 'fr'].includes(c.code))).toBe(true);
    expect(languageText(result)).toMatch(
      /^I cannot tell which language that is \(best guess: \w+ \((en|fr)\) at 0\.\d\d\)\.$/,
    );
  });

  it('chooses only among the configured languages', () => {
    const text = 'Ich möchte heute Abend ins Kino gehen, kommst du mit?';
    const result = detectLanguage(text, settings({ only: ['de', 'nl'], min_confidence: 0 }));
    expect(result.code).toBe('de');
    expect(result.candidates!.every((c) => ['de', 'nl'].includes(c.code))).toBe(true);
  });

  it('refuses codes tinyld does not know', () => {
    expect(() => settings({ only: ['en', 'xx'] })).toThrow(/does not know these codes in "only": xx/);
  });

  it('leaves candidates out when max_candidates is 0', () => {
    const text = 'Je voudrais réserver une table pour deux personnes ce soir.';
    const result = detectLanguage(text, settings({ max_candidates: 0 }));
    expect(result).toEqual({ code: 'fr', name: 'French', confidence: 1 });
  });

  it('describes the result in a sentence', () => {
    expect(languageText({ code: 'fr', name: 'French', confidence: 1 })).toBe('Language: French (fr), confidence 1.00.');
    expect(languageText({ code: 'und', name: '', confidence: 0, candidates: [] })).toBe(
      'I cannot tell which language that is.',
    );
  });
});
