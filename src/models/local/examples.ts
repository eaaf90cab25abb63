import type { JsonObject } from '../../json.js';
import { PincerError } from '../../errors.js';
import { words } from './text.js';

/**
 * A tool's `examples`: phrases that ask for it, with `{slot}`s naming its parameters ("track
 * order {order_id}"). The built-in model routes a message to a tool by them (tool-router.ts);
 * the registry checks them here, so a typo in a slot fails the plugin's setup, not a message.
 */

/** One piece of an example: a word to match, or a slot that takes the message's words there. */
export type ExamplePart = { word: string } | { slot: string };

export const MAX_EXAMPLES = 100;
export const MAX_EXAMPLE_CHARS = 200;
const SLOT = /\{([^{}]*)\}/g;
const SLOT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** The example as words and slots, in order; words are normalised as the classifier sees them. */
export function parseExample(example: string): ExamplePart[] {
  const parts: ExamplePart[] = [];
  let at = 0;
  for (const match of example.matchAll(SLOT)) {
    for (const word of words(example.slice(at, match.index))) parts.push({ word });
    parts.push({ slot: (match[1] as string).trim() });
    at = (match.index as number) + match[0].length;
  }
  for (const word of words(example.slice(at))) parts.push({ word });
  return parts;
}

/** The example's words without its slots: what the classifier trains on. */
export function exampleText(example: string): string {
  return example.replace(SLOT, ' ');
}

/** The properties of a tool's parameter schema (an empty object when it declares none). */
export function parameterSchemas(parameters: Readonly<JsonObject>): Readonly<Record<string, JsonObject>> {
  const properties = parameters.properties;
  if (!properties || typeof properties !== 'object' || Array.isArray(properties)) return {};
  return Object.fromEntries(Object.entries(properties).filter((e): e is [string, JsonObject] => !!e[1] && typeof e[1] === 'object' && !Array.isArray(e[1])));
}

/**
 * Throws PIPELINE_BAD_TOOL_EXAMPLES unless every example is a short phrase with at least one
 * word besides its slots (an example of slots alone would match any message), and every slot
 * names a parameter of the tool, once per example.
 */
export function checkToolExamples(tool: { name: string; parameters: Readonly<JsonObject>; examples?: readonly unknown[] }): void {
  const { examples } = tool;
  if (examples === undefined) return;
  const bad = (why: string): never => {
    throw new PincerError('PIPELINE_BAD_TOOL_EXAMPLES', `tool "${tool.name}": ${why}`);
  };
  if (!Array.isArray(examples)) bad('examples must be an array of strings');
  if (examples.length > MAX_EXAMPLES) bad(`at most ${MAX_EXAMPLES} examples (there are ${examples.length})`);
  const parameters = parameterSchemas(tool.parameters);
  for (const [i, example] of examples.entries()) {
    if (typeof example !== 'string') return bad(`examples[${i}] must be a string`);
    if (example.length > MAX_EXAMPLE_CHARS) bad(`examples[${i}] is longer than ${MAX_EXAMPLE_CHARS} characters`);
    if (/[{}]/.test(example.replace(SLOT, ''))) bad(`examples[${i}] "${example}" has an unmatched "{" or "}"`);
    const parts = parseExample(example);
    if (!parts.some((p) => 'word' in p)) bad(`examples[${i}] "${example}" needs a word besides its slots`);
    const seen = new Set<string>();
    for (const part of parts) {
      if (!('slot' in part)) continue;
      if (!SLOT_NAME.test(part.slot)) bad(`examples[${i}] "${example}": "{${part.slot}}" is not a slot name`);
      if (seen.has(part.slot)) bad(`examples[${i}] "${example}" has the slot {${part.slot}} twice`);
      seen.add(part.slot);
      if (!Object.hasOwn(parameters, part.slot)) {
        const names = Object.keys(parameters);
        bad(`examples[${i}] "${example}": {${part.slot}} is not a parameter (the parameters are: ${names.join(', ') || 'none'})`);
      }
    }
  }
}
