import { Pool, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ModelError } from '../errors.js';

/**
 * The HTTP side every remote provider shares: one keep-alive pool per provider instance, and
 * the translation of every way a call can fail into a classed ModelError, so the router above
 * can decide between retrying, falling back and giving up without knowing any vendor.
 */

export interface HttpOptions {
  /** Where the vendor's API lives, including any path prefix (e.g. `https://api.openai.com/v1`). */
  baseUrl: string;
  /** Connections kept open to the vendor; undici's default (unbounded) suits a single process. */
  connections?: number;
  /**
   * How long to wait for response headers; a non-streamed call waits here for the whole reply.
   * Long replies take minutes, so undici's 300 s default stays unless set; a caller wanting
   * less for one call passes a signal.
   */
  headersTimeoutMs?: number;
  /** Longest silence allowed between two pieces of a response body. */
  bodyTimeoutMs?: number;
}

/** What a vendor's error body says beyond its HTTP status. */
export interface VendorErrorInfo {
  message: string;
  /** The prompt did not fit the model's context window: retrying it as is cannot help. */
  contextLength?: boolean;
  /** Some vendors refuse a bad key with a 400 rather than a 401. */
  auth?: boolean;
  /** Some vendors say how long to wait in the body instead of a Retry-After header. */
  retryAfterMs?: number;
}

export type VendorErrorReader = (status: number, body: unknown, text: string) => VendorErrorInfo;

export type ResponseBody = Dispatcher.ResponseData['body'];

const MAX_ERROR_MESSAGE = 500;

export class VendorHttp {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly origin: string;

  constructor(
    private readonly provider: string,
    options: HttpOptions,
    private readonly readError: VendorErrorReader,
  ) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.connections ?? null,
      ...(options.headersTimeoutMs !== undefined && { headersTimeout: options.headersTimeoutMs }),
      ...(options.bodyTimeoutMs !== undefined && { bodyTimeout: options.bodyTimeoutMs }),
    });
  }

  /** The body of a 2xx response; any other status, and any failure to get one, is a ModelError. */
  /** A batch answer must have one item per input, or it cannot be matched up. */
  expectCount<T>(items: T[], asked: number): T[] {
    if (items.length !== asked) throw new ModelError('bad_response', this.provider, `asked for ${asked} embeddings, got ${items.length}`);
    return items;
  }

  async send(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body: unknown, signal: AbortSignal | undefined): Promise<ResponseBody> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        method,
        path: this.basePath + path,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ?? null,
      });
    } catch (err) {
      throw this.toModelError(err, signal);
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return response.body;
    let text: string;
    try {
      text = await response.body.text();
    } catch (err) {
      throw this.toModelError(err, signal);
    }
    throw this.statusError(response.statusCode, response.headers, text);
  }

  /** A whole JSON response body, checked against the shape the provider relies on. */
  async readJson<T>(body: ResponseBody, schema: z.ZodType<T>, signal: AbortSignal | undefined): Promise<T> {
    let text: string;
    try {
      text = await body.text();
    } catch (err) {
      throw this.toModelError(err, signal);
    }
    return this.parse(text, schema, 'response body');
  }

  /** Vendor JSON that is not what the vendor documents is a bad response, never a crash. */
  parse<T>(text: string, schema: z.ZodType<T>, what: string): T {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ModelError('bad_response', this.provider, `${what} is not JSON: ${clip(text)}`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ModelError('bad_response', this.provider, `unexpected ${what}: ${clip(text)}`);
    return parsed.data;
  }

  /** Anything thrown during a call, as the ModelError the router expects. */
  toModelError(err: unknown, signal: AbortSignal | undefined): ModelError {
    if (err instanceof ModelError) return err;
    // Checked first: an abort surfaces as whatever the socket was doing when it was cut.
    if (signal?.aborted) return new ModelError('aborted', this.provider, 'the call was aborted');
    const code = (err as { code?: unknown } | null)?.code;
    const message = err instanceof Error ? err.message : String(err);
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return new ModelError('timeout', this.provider, `${this.origin} did not answer in time (${message})`);
    }
    if (code === 'UND_ERR_ABORTED') return new ModelError('aborted', this.provider, 'the call was aborted');
    return new ModelError('server', this.provider, `request to ${this.origin} failed: ${typeof code === 'string' ? `${code} ` : ''}${message}`);
  }

  /** A provider's stream, with whatever it throws mapped to a ModelError like any other call. */
  async *guard<T>(parts: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
    try {
      yield* parts;
    } catch (err) {
      throw this.toModelError(err, signal);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private statusError(status: number, headers: Dispatcher.ResponseData['headers'], text: string): ModelError {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const info = this.readError(status, body, text);
    const message = `HTTP ${status}: ${clip(info.message || text)}`;
    if (status === 401 || status === 403 || info.auth) return new ModelError('auth', this.provider, message);
    if (status === 429) return new ModelError('rate_limit', this.provider, message, retryAfterMs(headers['retry-after']) ?? info.retryAfterMs);
    if (status === 413 || (status < 500 && info.contextLength)) return new ModelError('context_length', this.provider, message);
    if (status === 408) return new ModelError('timeout', this.provider, message);
    if (status >= 500) return new ModelError('server', this.provider, message);
    // Any other refusal (unknown model, invalid parameter) would be refused again as is: only
    // another model can help, which is what the router does with a bad response.
    return new ModelError('bad_response', this.provider, message);
  }
}

/** Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function clip(text: string): string {
  return text.length > MAX_ERROR_MESSAGE ? `${text.slice(0, MAX_ERROR_MESSAGE)}…` : text;
}
