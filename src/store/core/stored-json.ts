import { PincerError } from '../../errors.js';

/** Deepest nesting of a reply, an analysis or a delivery the store takes (a client's metadata has its own, lower bound). */
export const MAX_STORED_DEPTH = 200;

/**
 * JSON as both backends can store it. PostgreSQL's jsonb refuses the escapes `\u0000` and
 * lone surrogates (`JSON.stringify` writes lone surrogates as `\udXXX` escapes, paired ones as
 * characters), and one refused value would fail its whole group commit; SQLite would take
 * them. Both get U+FFFD instead, so the backends store the same thing.
 */
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi;

export function storedJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes('\\u') ? text.replace(UNSTORABLE_ESCAPE, '$1\\ufffd') : text;
}

/** An empty object is stored as NULL: most messages carry no metadata or analysis. */
export function storedJsonOrNull(value: Record<string, unknown> | undefined): string | null {
  return value && Object.keys(value).length > 0 ? storedJson(value) : null;
}

export interface JsonBounds {
  maxDepth: number;
  maxBytes: number;
}

/**
 * Checks a client's JSON before anything recursive touches it: nesting is measured without
 * recursion (a 5,000-level body would overflow the stack of `JSON.stringify`, an analyzer or
 * the response serializer), then the serialised size. Returns the stored form.
 */
export function boundedJson(field: string, value: object, bounds: JsonBounds): string {
  const depth = nestingDepth(value, bounds.maxDepth);
  if (depth > bounds.maxDepth) {
    throw new PincerError('METADATA_TOO_DEEP', `${field} nests deeper than ${bounds.maxDepth} levels (queue.max_metadata_depth)`);
  }
  const text = storedJson(value);
  const bytes = Buffer.byteLength(text);
  if (bytes > bounds.maxBytes) {
    throw new PincerError('METADATA_TOO_LARGE', `${field} is ${bytes} bytes as JSON; at most ${bounds.maxBytes} are accepted (queue.max_metadata_bytes)`);
  }
  return text;
}

/** Depth of objects and arrays, counting stops once past `limit`. */
export function nestingDepth(root: object, limit: number): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1 });
    }
  }
  return deepest;
}
