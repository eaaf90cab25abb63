import http from 'node:http';
import https from 'node:https';
import { Api } from 'grammy';

/**
 * grammY types its signal as the `abort-controller` package's, which Node's own AbortSignal does
 * not match in TypeScript; at run time grammY takes any object with addEventListener.
 */
type ApiSignal = NonNullable<Parameters<Api['getMe']>[0]>;

export function apiSignal(signal: AbortSignal): ApiSignal;
export function apiSignal(signal: AbortSignal | undefined): ApiSignal | undefined;
export function apiSignal(signal: AbortSignal | undefined): ApiSignal | undefined {
  return signal as unknown as ApiSignal | undefined;
}

/**
 * The Bot API client. grammY's Api makes each call exactly once (retries are a separate
 * grammY plugin, not installed), so a failed send is never repeated behind the outbox's back.
 */
export function createApi(token: string, apiRoot: string, pollTimeout: number): Api {
  // grammY's fetch opens a new connection per call unless given an agent: a busy bot would pay
  // a TCP (and TLS) handshake for every message. One keep-alive agent per client.
  const options = { keepAlive: true, maxSockets: 64 };
  const agent = apiRoot.startsWith('https:') ? new https.Agent(options) : new http.Agent(options);
  // timeoutSeconds bounds every call; a long poll needs its own wait plus slack.
  return new Api(token, { apiRoot, timeoutSeconds: pollTimeout + 30, baseFetchConfig: { agent, compress: true } });
}
