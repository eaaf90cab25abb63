import { createHash } from 'node:crypto';
import { ChannelError, chunkRendered, fencedMarkup, networkErrorCode, NOT_SENT_CODES, webhookHeaders } from 'pincer/channel-kit';
import type { ChannelAccount, ChannelReceipt, ChannelTarget, DeliveryPlan, JsonObject, RenderedPart } from 'pincer/plugin';
import { request, type Dispatcher } from 'undici';
import { AccountSettingError, outboundSettings, ratePerSecond } from './account.js';
import { TEXT_LIMIT } from './inbound.js';

/**
 * Replies out: one signed POST per part to the account's callback_url,
 *
 *   { "type": "message.reply", "conversationId": "c1", "threadId"?: "t1", "replyTo"?: "m1",
 *     "text": "<Markdown>", "partIndex": 0, "partCount": 1 }
 *
 * with the same webhook-id on every attempt of a part, so a receiver that dedupes by it (as
 * Standard Webhooks asks) shows each part once however often it is resent. Which id:
 * `part.extra.webhookId` if core set one; else `part.extra.deliveryId` + "." + partIndex; else a
 * hash of the conversation, thread, replyTo, part index and text. The hash is stable across
 * attempts, but two identical replies to the same message would share it, so core should pass one.
 */

const RESPONSE_CAP = 64 * 1024;
const HEADER_SAFE_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * Markdown goes out as written. A reply over the limit is cut by the kit's chunker with the
 * fenced markup, so a code block cut in two is closed and reopened: each part reads on its own.
 */
export function plan(markdown: string, _target: ChannelTarget, account: ChannelAccount): DeliveryPlan {
  const chunks = markdown.trim() === '' ? [] : chunkRendered(markdown, TEXT_LIMIT, fencedMarkup);
  const parts = chunks.map((chunk, index): RenderedPart => ({ text: chunk.text, plain: chunk.plain, extra: { partIndex: index, partCount: chunks.length } }));
  return { parts, buckets: [{ key: 'global', limit: ratePerSecond(account), intervalMs: 1000 }] };
}

const numberExtra = (part: RenderedPart, key: string): number | undefined => {
  const value = part.extra?.[key];
  return typeof value === 'number' ? value : undefined;
};

export function webhookId(part: RenderedPart, target: ChannelTarget): string {
  const extra = part.extra ?? {};
  let id: string;
  if (typeof extra.webhookId === 'string') id = extra.webhookId;
  else if (typeof extra.deliveryId === 'string') id = `${extra.deliveryId}.${numberExtra(part, 'partIndex') ?? 0}`;
  else {
    const facts = [target.conversation.id, target.conversation.threadId ?? null, target.replyTo ?? null, numberExtra(part, 'partIndex') ?? 0, part.text];
    id = `pincer_${createHash('sha256').update(JSON.stringify(facts)).digest('base64url').slice(0, 32)}`;
  }
  if (!HEADER_SAFE_ID.test(id)) throw new ChannelError('permanent', `webhook-id "${id.slice(0, 80)}" is not 1 to 256 printable ASCII characters without spaces`);
  return id;
}

function payload(part: RenderedPart, target: ChannelTarget): JsonObject {
  const body: JsonObject = { type: 'message.reply', conversationId: target.conversation.id };
  if (target.conversation.threadId !== undefined) body.threadId = target.conversation.threadId;
  if (target.replyTo !== undefined) body.replyTo = target.replyTo;
  body.text = part.text;
  const index = numberExtra(part, 'partIndex');
  const count = numberExtra(part, 'partCount');
  if (index !== undefined) body.partIndex = index;
  if (count !== undefined) body.partCount = count;
  return body;
}

export async function send(part: RenderedPart, target: ChannelTarget, account: ChannelAccount, signal: AbortSignal): Promise<ChannelReceipt> {
  let settings;
  try {
    settings = outboundSettings(account);
  } catch (error) {
    // Retrying cannot help until the operator fixes the setting; the dead letter says which.
    if (error instanceof AccountSettingError) throw new ChannelError('permanent', error.message);
    throw error;
  }
  const id = webhookId(part, target);
  const body = JSON.stringify(payload(part, target));
  const deadline = AbortSignal.timeout(settings.timeoutMs);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(settings.callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...webhookHeaders(settings.callbackSecret, id, body) },
      body,
      signal: AbortSignal.any([signal, deadline]),
    });
  } catch (error) {
    throw failure(error, { deadline, signal, timeoutMs: settings.timeoutMs, host: settings.callbackUrl.host });
  }
  // The answer has come: a body cut off now changes nothing about what the status says.
  const text = await readCapped(response.body).catch(() => '');
  return answer(response.statusCode, response.headers['retry-after'], text);
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

const snippet = (text: string): string => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

/** What the receiver's answer means for this part. */
export function answer(status: number, retryAfter: string | string[] | undefined, text: string, now = Date.now()): ChannelReceipt {
  if (status >= 200 && status <= 299) {
    const id = receiptId(text);
    return id === undefined ? {} : { platformMessageId: id };
  }
  const said = text ? `: ${snippet(text)}` : '';
  if (status === 429) throw new ChannelError('rate_limited', `the receiver is rate-limiting (429)${said}`, retryAfterMs(retryAfter, now));
  if (status === 410) throw new ChannelError('permanent', `the receiver gave up on this conversation (410)${said}`);
  if (status === 401 || status === 403) throw new ChannelError('permanent', `the receiver refused the signature (${status}); check callback_secret${said}`);
  // The receiver dedupes by webhook-id, so repeating a call it may have half-processed is safe.
  if (status >= 500) throw new ChannelError('transient', `the receiver failed (${status})${said}`);
  if (status >= 300 && status <= 399) throw new ChannelError('permanent', `the receiver redirected (${status}); redirects are not followed, set callback_url to the final URL`);
  throw new ChannelError('permanent', `the receiver refused the reply (${status})${said}`);
}

function receiptId(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || !('id' in parsed)) return undefined;
    const { id } = parsed as { id: unknown };
    return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
  } catch {
    return undefined;
  }
}

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`; undefined when neither. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Date.parse takes "-5" for a year in 2001; an HTTP date names its day and month in letters.
  if (!/[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface FailureContext {
  deadline: AbortSignal;
  signal: AbortSignal;
  timeoutMs: number;
  host: string;
}

/** A call that got no answer: sent or not? Only a failure to connect says "not". */
function failure(error: unknown, ctx: FailureContext): ChannelError {
  if (ctx.deadline.aborted) return new ChannelError('ambiguous', `no answer from ${ctx.host} within ${ctx.timeoutMs} ms`);
  if (ctx.signal.aborted) return new ChannelError('ambiguous', `the call to ${ctx.host} was aborted before an answer came`);
  const code = networkErrorCode(error);
  const what = code ?? (error as Error).message;
  if (code !== undefined && NOT_SENT_CODES.has(code)) return new ChannelError('transient', `could not reach ${ctx.host} (${what})`);
  return new ChannelError('ambiguous', `the call to ${ctx.host} failed after it was sent (${what})`);
}
