/**
 * A thin client for the Matrix client-server API over undici: JSON in and out, the access
 * token as a Bearer header, Matrix's error envelope ({errcode, error, retry_after_ms}) turned
 * into a MatrixHttpError. No retries: whether a failed call is repeated is the caller's
 * decision (the outbox's, for sends).
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { JsonObject, JsonValue } from 'pincer/plugin';

const RESPONSE_CAP = 16 * 1024 * 1024;

/** The homeserver answered with an error. */
export class MatrixHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`${status} ${errcode}: ${message}`);
    this.name = 'MatrixHttpError';
  }
}

/** No answer came: the request failed to connect, was cut, or timed out. */
export class MatrixNetworkError extends Error {
  constructor(
    message: string,
    /** The system or undici error code (ECONNREFUSED, UND_ERR_SOCKET...). */
    readonly errorCode: string | undefined,
    /** The call's own deadline passed. */
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'MatrixNetworkError';
  }
}

export interface CallOptions {
  query?: Record<string, string>;
  body?: JsonObject;
  signal?: AbortSignal;
  timeoutMs?: number;
}

function errorCodeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function retryAfter(body: JsonValue | undefined, header: string | string[] | undefined): number | undefined {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const ms = body['retry_after_ms'];
    if (typeof ms === 'number' && ms >= 0) return ms;
  }
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : undefined;
}

export class MatrixClient {
  private readonly agent: Agent;

  constructor(
    readonly homeserver: string,
    private readonly accessToken: string,
  ) {
    // One keep-alive pool per account: sends and the long poll reuse their connections.
    this.agent = new Agent({ keepAliveTimeout: 30_000, connections: 32, headersTimeout: 0, bodyTimeout: 0 });
  }

  async call<T extends JsonValue = JsonObject>(method: 'GET' | 'PUT' | 'POST', path: string, options: CallOptions = {}): Promise<T> {
    const url = new URL(`${this.homeserver}/_matrix/client/v3${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const deadline = AbortSignal.timeout(options.timeoutMs ?? 30_000);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${this.accessToken}`, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal,
      });
    } catch (err) {
      throw new MatrixNetworkError(`${method} ${path}: ${(err as Error).message}`, errorCodeOf(err), deadline.aborted);
    }
    let text: string;
    try {
      text = await readCapped(response.body);
    } catch (err) {
      throw new MatrixNetworkError(`${method} ${path}: the answer was cut (${(err as Error).message})`, errorCodeOf(err), deadline.aborted);
    }
    let parsed: JsonValue | undefined;
    try {
      parsed = text === '' ? undefined : (JSON.parse(text) as JsonValue);
    } catch {
      parsed = undefined;
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return (parsed ?? {}) as T;
    const envelope = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {};
    const errcode = typeof envelope['errcode'] === 'string' ? envelope['errcode'] : 'M_UNKNOWN';
    const message = typeof envelope['error'] === 'string' ? envelope['error'] : text.slice(0, 200);
    throw new MatrixHttpError(response.statusCode, errcode, message, retryAfter(parsed, response.headers['retry-after']));
  }

  close(): void {
    void this.agent.close().catch(() => undefined);
  }
}

async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > RESPONSE_CAP) throw new Error(`answer over ${RESPONSE_CAP} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A path segment: room ids hold "!" and ":", user ids "@" and ":". */
export const seg = (value: string): string => encodeURIComponent(value);
