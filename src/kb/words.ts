/**
 * The words the knowledge base indexes and searches by: Pincer's tokenizer, then a light
 * English stemmer, so "passwords", "resetting" and "upgraded" find "password", "reset" and
 * "upgrade". Index and query go through this one function, on both backends.
 */
import { tokenize } from '../text/tokens.js';

const VOWEL = /[aeiouy]/;

/**
 * Conservative suffix stripping for plain ASCII words (others are returned as they are):
 * plural -s/-es/-ies, -ing and -ed, undoubling a final consonant they leave. It merges
 * inflections; it does not try to reach Porter's roots (which also merge "general" and
 * "generous").
 */
export function stem(word: string): string {
  if (word.length <= 3 || !/^[a-z]+$/.test(word)) return word;
  let w = word;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (/(?:ches|shes|xes|zes)$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) w = w.slice(0, -1);
  for (const suffix of ['ing', 'ed']) {
    if (!w.endsWith(suffix)) continue;
    const base = w.slice(0, -suffix.length);
    // A stem needs a vowel and some length: "bring" and "red" stay.
    if (base.length < 3 || !VOWEL.test(base)) break;
    if (/([bdfgklmnprt])\1$/.test(base) && !/(?:ll|ss)$/.test(base)) w = base.slice(0, -1);
    else if (suffix === 'ed' && base.endsWith('i')) w = `${base.slice(0, -1)}y`;
    else w = base;
    break;
  }
  // "upgrade"/"upgraded" -> "upgrad": a final silent e goes too, so both forms meet.
  if (w.length > 4 && w.endsWith('e') && !/(?:ee|ye|le)$/.test(w)) w = w.slice(0, -1);
  return w;
}

/** The knowledge base's words of a text, in order. */
export function kbWords(text: string, max?: number): string[] {
  return tokenize(text, max).map(stem);
}
