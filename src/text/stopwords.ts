/**
 * English function words: they say how a question is asked, not what about ("how do I ...",
 * "what is the ..."). Retrieval leaves them out of a query's terms, so a short FAQ question
 * sharing "how", "do" and "my" with the question does not outrank the passage sharing its
 * subject; in a small knowledge base even "how" is rare enough to weigh a lot otherwise.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below between both but by can could did do does doing done down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over own same she should so some such than that the their theirs them themselves then there these they this those through to too under until up very was we were what when where which while who whom why will with would you your yours yourself yourselves ' +
    "can't cannot don't doesn't isn't i'm i've it's let's please thanks hi hello hey"
  ).split(/\s+/),
);

/** The words of a query that carry its subject; all of them when every word is a function word. */
export function contentTerms(terms: readonly string[]): string[] {
  const kept = terms.filter((t) => !STOPWORDS.has(t));
  return kept.length > 0 ? kept : [...terms];
}
