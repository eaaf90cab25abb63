/**
 * Pincer's own Graph API client: the Cloud API needs two calls (send a message, read the
 * phone number), so undici alone is the right size. No retries here: retrying is the
 * delivery outbox's decision.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { classifyGraphError, classifyNetworkError } from './errors.js';
import type { WhatsAppSettings } from './settings.js';

const RESPONSE_CAP = 256 * 1024;
// Kept-alive connections: a reply of several parts goes out on one.
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 16 });

export interface GraphCall {
  method: 'GET' | 'POST';
  /** Below /{version}/, e.g. "123/messages". */
  path: string;
  body?: unknown;
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > RESPONSE_CAP) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One Graph call; the parsed 2xx body, or a classified ChannelError. */
export async function graph(settings: WhatsAppSettings, call: GraphCall, signal: AbortSignal): Promise<unknown> {
  const url = `${settings.graphApiRoot}/${settings.apiVersion}/${call.path}`;
  const host = new URL(url).host;
  const deadline = AbortSignal.timeout(settings.timeoutMs);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: call.method,
      dispatcher: agent,
      headers: { authorization: `Bearer ${settings.accessToken}`, ...(call.body !== undefined && { 'content-type': 'application/json' }) },
      ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
      signal: AbortSignal.any([signal, deadline]),
    });
  } catch (error) {
    throw classifyNetworkError(error, host, deadline.aborted);
  }
  let text: string;
  try {
    text = await readCapped(response.body);
  } catch (error) {
    // The status came, the body did not: for a 2xx the send happened but its id is lost.
    if (response.statusCode >= 200 && response.statusCode < 300) return {};
    throw classifyNetworkError(error, host, deadline.aborted);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.statusCode >= 200 && response.statusCode < 300) return parsed ?? {};
  throw classifyGraphError(response.statusCode, parsed, response.headers['retry-after']);
}

/** The wamid of a send's answer `{messages: [{id}]}`. */
export function sentId(body: unknown): string | undefined {
  const messages = (body as { messages?: unknown } | null)?.messages;
  const first = Array.isArray(messages) ? (messages[0] as { id?: unknown } | undefined) : undefined;
  return typeof first?.id === 'string' ? first.id : undefined;
}
