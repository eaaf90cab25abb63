import type { JsonObject, JsonValue } from '../../json.js';
import type { ToolDefinition } from '../types.js';
import type { Intent } from './corpus.js';
import { exampleText, parameterSchemas, parseExample, type ExamplePart } from './examples.js';
import { NaiveBayes } from './naive-bayes.js';
import { isFunctionWord } from './text.js';
import { align, coerce, MAX_ALIGNED_TOKENS, spanText, tokenize, type Token } from './slots.js';

/**
 * How the built-in model finds the tool a message asks for. One naive Bayes classifier is
 * trained on the built-in intents and every tool's examples (label `tool:<name>`), so a tool
 * competes with "hello" and "thanks" rather than winning by default. A message is aligned to
 * each tool's best example first, and the words its slots took (the order number, the city)
 * are left out of what is classified: they are the arguments, not the request, and the
 * classifier has never seen them. Confidence is, as for intents, the tool's posterior
 * discounted by the share of the remaining content words the classifier knows.
 */

export interface IndexedTool {
  definition: ToolDefinition;
  examples: ReadonlyArray<readonly ExamplePart[]>;
  parameters: Readonly<Record<string, JsonObject>>;
  required: readonly string[];
}

export interface ToolMatch {
  tool: IndexedTool;
  confidence: number;
  /** The arguments its slots filled, in the parameters' types. */
  args: Record<string, JsonValue>;
  /** Required parameters no slot filled. */
  missing: string[];
}

/** Words that make a request polite, not different. */
const POLITE = new Set(['please', 'pls', 'kindly', 'hey', 'hi', 'hello', 'thanks', 'thank', 'ok', 'okay', 'now']);
/** "where's" is classified as "where". */
const CONTRACTION = /'(?:s|re|m|ll|d|ve)$/;

export class ToolIndex {
  readonly tools: ReadonlyMap<string, IndexedTool>;
  private readonly classifier: NaiveBayes;

  constructor(definitions: readonly ToolDefinition[], intents: Readonly<Record<string, Intent>>) {
    const tools = new Map<string, IndexedTool>();
    const training: Array<{ text: string; label: string }> = Object.entries(intents).flatMap(([label, intent]) => intent.examples.map((text) => ({ text, label })));
    for (const definition of definitions) {
      if (!definition.examples?.length) continue;
      const required = Array.isArray(definition.parameters.required) ? definition.parameters.required.filter((r): r is string => typeof r === 'string') : [];
      tools.set(definition.name, { definition, examples: definition.examples.map(parseExample), parameters: parameterSchemas(definition.parameters), required });
      for (const example of definition.examples) training.push({ text: exampleText(example), label: labelOf(definition.name) });
    }
    this.tools = tools;
    this.classifier = new NaiveBayes().train(training);
  }

  /** The tool the message most likely asks for, with what its slots filled; undefined when no tool has examples or the text is no command. */
  match(text: string): ToolMatch | undefined {
    const tokens = tokenize(text);
    if (tokens.length === 0 || tokens.length > MAX_ALIGNED_TOKENS) return undefined;
    let best: ToolMatch | undefined;
    for (const tool of this.tools.values()) {
      for (const parts of tool.examples) {
        const filled = fill(tool, parts, text, tokens);
        // To three places: examples that fit as well are told apart by how many arguments they fill.
        const confidence = Math.round(this.confidence(tool, tokens.filter((_, i) => !filled.taken.has(i) && !filled.ignored.has(i))) * 1000) / 1000;
        const args = filled.args;
        const better = !best || confidence > best.confidence || (confidence === best.confidence && Object.keys(args).length > Object.keys(best.args).length);
        if (better) best = { tool, confidence, args, missing: tool.required.filter((r) => args[r] === undefined) };
      }
    }
    return best;
  }

  /** The tool's posterior for the words its slots did not take, times the square root of how much of them the classifier knows. */
  private confidence(tool: IndexedTool, rest: readonly Token[]): number {
    const kept = rest.map((t) => t.norm.replace(CONTRACTION, ''));
    // Words like "where is the" alone are no request: a slot took everything that was.
    if (!kept.some((w) => !isFunctionWord(w))) return 0;
    const prediction = this.classifier.predict(kept.join(' '));
    const posterior = prediction.ranked.find((r) => r.label === labelOf(tool.definition.name))?.probability ?? 0;
    return posterior * Math.sqrt(prediction.coverage);
  }
}

function labelOf(tool: string): string {
  return `tool:${tool}`;
}

/**
 * What the example's slots take from the message, as values of their parameters' types. A
 * typed value takes only its own words ("12345" of "order 12345 please"), so the rest is
 * still classified; free text takes its whole run.
 */
function fill(tool: IndexedTool, parts: readonly ExamplePart[], text: string, tokens: readonly Token[]): { args: Record<string, JsonValue>; taken: Set<number>; ignored: Set<number> } {
  const alignment = align(parts, tokens);
  // Words the example has no place for and that carry no topic ("can you ... for me", "please")
  // say nothing about which tool is asked for; they are left out of what is classified.
  const ignored = new Set([...alignment.extra].filter((i) => isFunctionWord((tokens[i] as Token).norm) || POLITE.has((tokens[i] as Token).norm)));
  const args: Record<string, JsonValue> = {};
  const taken = new Set<number>();
  for (const [slot, span] of Object.entries(alignment.spans)) {
    const schema = tool.parameters[slot] ?? {};
    const value = coerce(spanText(text, tokens, span), schema);
    if (value === undefined) continue;
    args[slot] = value;
    const own = isFreeText(schema) ? undefined : new Set(tokenize(String(value)).map((t) => t.norm));
    for (let i = span.from; i < span.to; i++) if (!own || own.has((tokens[i] as Token).norm)) taken.add(i);
  }
  return { args, taken, ignored };
}

/** A string parameter without a pattern or enum: any text is a value. */
function isFreeText(schema: Readonly<JsonObject>): boolean {
  return (schema.type === 'string' || schema.type === undefined) && typeof schema.pattern !== 'string' && !Array.isArray(schema.enum);
}

/**
 * A follow-up to a question for missing arguments ("it's 12345"): each missing parameter's
 * value from the whole message, by its type. A free-text parameter takes the message only
 * when it is the one thing asked for, so two free-text answers are never guessed apart.
 */
export function fillMissing(tool: IndexedTool, text: string, missing: readonly string[]): Record<string, JsonValue> {
  const found: Record<string, JsonValue> = {};
  for (const name of missing) {
    const schema = tool.parameters[name] ?? {};
    if (isFreeText(schema) && missing.length > 1) continue;
    const value = coerce(text, schema);
    if (value !== undefined) found[name] = value;
  }
  return found;
}
