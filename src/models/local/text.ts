/**
 * Text features for the built-in model: lower-cased words (apostrophes kept, so "what's"
 * stays one word) and adjacent word pairs, which tell "how are you" from "who are you".
 */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .match(/[a-z0-9]+(?:'[a-z]+)?/g) ?? [];
}

export function features(text: string): string[] {
  const w = words(text);
  const out = [...w];
  for (let i = 0; i + 1 < w.length; i++) out.push(`${w[i]}_${w[i + 1]}`);
  return out;
}

const FUNCTION_WORDS = new Set(
  ('a an the is are was were be been am do does did to of in on at for with by from and or but not it its this that these those ' +
    'what which who whom how why when where i me my you your we our they their he she him her can could would should will shall ' +
    'may might must have has had there here some any about into than then so if as up out just').split(' '),
);

/** Words that carry grammar, not topic: they do not show that a text is within the model's domain. */
export function isFunctionWord(word: string): boolean {
  return FUNCTION_WORDS.has(word);
}
