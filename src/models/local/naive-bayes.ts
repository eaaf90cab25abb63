import { features, isFunctionWord } from './text.js';

export interface Prediction {
  label: string;
  /** Posterior probability of each label, descending. */
  ranked: Array<{ label: string; probability: number }>;
  /** Share of the text's content words (not "what", "is", "the") seen in training, 0..1. */
  coverage: number;
}

/** Small: with a few hundred training phrases, add-one smoothing would drown the evidence of a one-word text. */
const SMOOTHING = 0.1;

/**
 * Multinomial naive Bayes with additive smoothing over words and word pairs. Small, trained in
 * milliseconds at start-up, and honest about what it does not know: `coverage` says how much
 * of a text it has ever seen, so callers can refuse to answer outside their domain.
 */
export class NaiveBayes {
  private readonly labels: string[] = [];
  private readonly docCount = new Map<string, number>();
  private readonly featureCount = new Map<string, Map<string, number>>();
  private readonly totalFeatures = new Map<string, number>();
  private readonly vocabulary = new Set<string>();
  private documents = 0;

  train(examples: ReadonlyArray<{ text: string; label: string }>): this {
    for (const { text, label } of examples) {
      if (!this.docCount.has(label)) {
        this.labels.push(label);
        this.docCount.set(label, 0);
        this.featureCount.set(label, new Map());
        this.totalFeatures.set(label, 0);
      }
      this.docCount.set(label, (this.docCount.get(label) as number) + 1);
      const counts = this.featureCount.get(label) as Map<string, number>;
      for (const f of features(text)) {
        counts.set(f, (counts.get(f) ?? 0) + 1);
        this.totalFeatures.set(label, (this.totalFeatures.get(label) as number) + 1);
        this.vocabulary.add(f);
      }
      this.documents++;
    }
    return this;
  }

  predict(text: string): Prediction {
    if (this.labels.length === 0) throw new Error('the classifier has not been trained');
    const fs = features(text);
    const known = fs.filter((f) => this.vocabulary.has(f));
    const v = this.vocabulary.size;
    const scores = this.labels.map((label) => {
      const counts = this.featureCount.get(label) as Map<string, number>;
      const total = this.totalFeatures.get(label) as number;
      let logp = Math.log((this.docCount.get(label) as number) / this.documents);
      // Unknown features carry no evidence for any label; skipping them keeps long
      // off-topic texts from being decided by the smoothing term alone.
      for (const f of known) logp += Math.log(((counts.get(f) ?? 0) + SMOOTHING) / (total + SMOOTHING * v));
      return { label, logp };
    });
    const max = Math.max(...scores.map((s) => s.logp));
    const exp = scores.map((s) => ({ label: s.label, e: Math.exp(s.logp - max) }));
    const sum = exp.reduce((acc, s) => acc + s.e, 0);
    const ranked = exp.map((s) => ({ label: s.label, probability: s.e / sum })).sort((a, b) => b.probability - a.probability);
    // Coverage looks at content words: "what is the capital of France" shares only function
    // words with the corpus, and must not pass for a question the model understands.
    const content = fs.filter((f) => !f.includes('_') && !isFunctionWord(f));
    const judged = content.length > 0 ? content : fs.filter((f) => !f.includes('_'));
    const coverage = judged.length === 0 ? 0 : judged.filter((f) => this.vocabulary.has(f)).length / judged.length;
    return { label: (ranked[0] as { label: string }).label, ranked, coverage };
  }
}
