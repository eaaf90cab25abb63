import { StringDecoder } from 'node:string_decoder';

/**
 * Incremental parsers for the two streaming formats model vendors use: Server-Sent Events
 * (OpenAI, Anthropic, Gemini) and newline-delimited JSON (Ollama). Both take the raw body as
 * it arrives, so a reply is passed on token by token rather than after the last byte.
 */

export interface SseEvent {
  /** `message` when the server named none, as in the EventSource spec. */
  event: string;
  data: string;
}

/**
 * The body's lines, whatever the network's chunking: a chunk may end inside a UTF-8 character
 * or between the `\r` and `\n` of one line break. A last line without a break is still a line,
 * so a body cut mid-line reaches the caller (and fails its JSON parse) instead of vanishing.
 */
export async function* lines(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    // A trailing `\r` may be half of a `\r\n`: keep it until the next chunk says which.
    const held = buffer.endsWith('\r') ? 1 : 0;
    const parts = buffer.slice(0, buffer.length - held).split(/\r\n|\r|\n/);
    buffer = (parts.pop() ?? '') + (held ? '\r' : '');
    yield* parts;
  }
  buffer += decoder.end();
  const parts = buffer.split(/\r\n|\r|\n/);
  const last = parts.pop() ?? '';
  yield* parts;
  if (last) yield last;
}

/** Server-Sent Events per the WHATWG parsing rules (comments, multi-line data, optional space). */
export async function* sseEvents(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  let event = '';
  let data: string[] = [];
  for await (const line of lines(body)) {
    if (line === '') {
      if (data.length) yield { event: event || 'message', data: data.join('\n') };
      event = '';
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    // `id` and `retry` only matter to reconnecting EventSource clients; a model call never resumes.
  }
  // The spec drops an event not followed by a blank line; servers that omit the last one still
  // meant it, and a truncated one fails its JSON parse in the provider anyway.
  if (data.length) yield { event: event || 'message', data: data.join('\n') };
}

/** Newline-delimited JSON, one value per non-blank line, still as text for the caller to parse. */
export async function* ndjsonLines(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  for await (const line of lines(body)) if (line.trim() !== '') yield line;
}
