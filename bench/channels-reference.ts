/**
 * What the channel references share: a server that answers every POST 200 (what a platform's
 * webhook calls and echoes go to when no Pincer listens), a loop that keeps N calls in flight,
 * a bare HTTP client for the fakes' send endpoints and a bare client of their event sockets.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { WebSocket } from 'ws';

/** Webhook events in flight at once, as a platform sends them; and sends in flight, as the outbox's delivery concurrency. */
export const POSTED_IN_FLIGHT = 16;

export async function inFlight(count: number, concurrency: number, call: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await call(next++);
    }),
  );
}

/** A server that reads each request and answers 200 `{}`: no parsing, no checks. */
export async function sink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface BareCall {
  method: 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Whether a 2xx answer is a success (Slack says `ok: false` with a 200). */
  accepted?: (answer: string) => boolean;
}

/**
 * `count` calls from a plain undici client, `POSTED_IN_FLIGHT` at once, each answer read in
 * full and required to be 2xx (a refused call would make the reference look fast); seconds.
 */
export async function bareSends(count: number, call: (i: number) => BareCall): Promise<number> {
  const dispatcher = new Agent({ connections: POSTED_IN_FLIGHT });
  try {
    const start = performance.now();
    await inFlight(count, POSTED_IN_FLIGHT, async (i) => {
      const { method, url, headers, body, accepted } = call(i);
      const res = await request(url, { method, headers, body, dispatcher });
      const answer = await res.body.text();
      if (res.statusCode < 200 || res.statusCode > 299 || (accepted && !accepted(answer))) throw new Error(`the reference send ${method} ${url} was answered ${res.statusCode}: ${answer.slice(0, 200)}`);
    });
    return (performance.now() - start) / 1000;
  } finally {
    await dispatcher.close();
  }
}

/** The platform's own id of a driver's user's conversation: what follows `<channel>:<account>:`. */
export function platformId(conversationId: string): string {
  return conversationId.split(':').slice(2).join(':');
}

export type FrameVerdict = 'ready' | 'taken' | undefined;

/**
 * A bare WebSocket client of a platform's event socket taking a burst: `frame` sees each parsed
 * frame (answering it through `send`) and says when the session is ready and when an event was
 * taken. Seconds from `push` (called once ready) to the `count`th event taken.
 */
export async function socketBurst(url: string, count: number, push: () => Promise<unknown>, frame: (message: Record<string, unknown>, send: (data: unknown) => void) => FrameVerdict): Promise<number> {
  const socket = new WebSocket(url);
  const send = (data: unknown): void => socket.send(JSON.stringify(data));
  let taken = 0;
  let allTaken = (): void => {};
  const all = new Promise<void>((resolve) => (allTaken = resolve));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('message', (data) => {
      const verdict = frame(JSON.parse(String(data)) as Record<string, unknown>, send);
      if (verdict === 'ready') resolve();
      else if (verdict === 'taken' && ++taken === count) allTaken();
    });
  });
  try {
    const start = performance.now();
    await push();
    await all;
    return (performance.now() - start) / 1000;
  } finally {
    socket.close();
  }
}
