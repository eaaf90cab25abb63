import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PincerError } from '../errors.js';
import { errorBody } from './errors.js';

export interface EventStream {
  /** Send the 200 and SSE headers. Events sent before this are buffered. */
  start(): void;
  send(event: string, data: unknown): void;
  /** Send `end` and close. */
  end(): void;
  /** Answer with a JSON error instead (only before start). */
  fail(err: PincerError): void;
  onClose(fn: () => void): void;
}

const HEARTBEAT_MS = 15_000;

/**
 * The server's open event streams. They are ended when the server closes, so shutdown never
 * waits on a client that keeps listening.
 */
export class EventStreams {
  private readonly open = new Set<EventStream>();

  /** Turn this request's response into a text/event-stream. */
  accept(request: FastifyRequest, reply: FastifyReply): EventStream {
    return openEventStream(this.open, request, reply);
  }

  endAll(): void {
    for (const stream of [...this.open]) stream.end();
  }
}

function openEventStream(registry: Set<EventStream>, request: FastifyRequest, reply: FastifyReply): EventStream {
  const raw = reply.raw;
  const closers: Array<() => void> = [];
  const buffered: string[] = [];
  let started = false;
  let closed = false;
  let heartbeat: NodeJS.Timeout | undefined;

  reply.hijack();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    registry.delete(stream);
    for (const fn of closers) fn();
  };
  request.raw.once('close', close);

  const write = (chunk: string) => {
    if (closed) return;
    if (started) raw.write(chunk);
    else buffered.push(chunk);
  };

  const stream: EventStream = {
    start() {
      if (started || closed) return;
      started = true;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': String(request.id),
      });
      raw.write(': stream open\n\n');
      for (const chunk of buffered.splice(0)) raw.write(chunk);
      heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
    },
    send(event, data) {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end() {
      if (closed) return;
      if (!started) stream.start();
      raw.write('event: end\ndata: {}\n\n');
      raw.end();
      close();
    },
    fail(err) {
      if (started || closed) return;
      raw.writeHead(err.statusCode, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': String(request.id) });
      raw.end(JSON.stringify(errorBody(err.code, err.message)));
      close();
    },
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
  };
  registry.add(stream);
  return stream;
}

