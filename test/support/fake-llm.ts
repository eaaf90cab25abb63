import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTick, setTimeout as sleep } from 'node:timers/promises';

/**
 * A fake LLM server on 127.0.0.1 speaking the real wire formats of OpenAI Chat Completions,
 * Anthropic Messages, Google Gemini and Ollama's native chat, so providers are tested against
 * what the vendors send (status codes, error bodies, SSE/NDJSON framing) and not against
 * mocks of their own making. It answers "echo: <last user text>" in several chunks, records
 * every request, calls a tool when a user text says `call <name> <json args>` and the request
 * offers tools (then answers "echo: tool said <result>" to the tool's result), embeds texts
 * into small deterministic vectors, and misbehaves on demand: `enqueueFault()` for the next requests (FIFO), or a
 * JSON `x-fake-fault` header on one request.
 */

export type FakeFault =
  /** No fault: answer this request normally (so a queued fault hits a later one). */
  | { type: 'none' }
  | { type: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'rate-limit'; retryAfterSeconds: number }
  /** Never answers, until the client aborts or the server closes. */
  | { type: 'hang' }
  | { type: 'slow-first-token'; ms: number }
  /** The stream (or JSON body) ends after this many text chunks, without its final part. */
  | { type: 'cut'; afterChunks: number }
  /** Like cut, but the connection stays open, silent: a stalled generation. */
  | { type: 'stall'; afterChunks: number }
  | { type: 'malformed' }
  | { type: 'error-event' }
  | { type: 'context-length' };

export type VendorName = 'openai' | 'anthropic' | 'gemini' | 'ollama';

export interface RecordedRequest {
  vendor: VendorName | undefined;
  method: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or the raw text when it is not JSON. */
  body: any;
}

export interface FakeLlmOptions {
  /** When set, requests must carry this key the vendor's way, or get the vendor's refusal. */
  apiKey?: string;
  /** Model ids GET /v1/models lists. */
  models?: string[];
}

interface FakeToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
  /** The arguments exactly as the model "wrote" them (malformed JSON too), where the wire carries text. */
  raw?: string;
}

/** What the arguments of a call look like on a wire that carries them as text. */
const argumentText = (c: FakeToolCall): string => c.raw ?? JSON.stringify(c.args);

interface Reply {
  model: string;
  pieces: string[];
  /** Asked for by a user text `call <tool> <json args>` when the request offers tools. */
  toolCalls: FakeToolCall[];
  finish: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
  /** OpenAI only sends usage in a stream when asked. */
  streamUsage: boolean;
}

/** How one vendor frames things; the server logic (faults, chunking) is shared. */
interface Vendor {
  name: VendorName;
  streamContentType: string;
  bodyStreams(body: any): boolean;
  keyOf(req: IncomingMessage, query: Record<string, string>): string | undefined;
  /** An error of the vendor's shape for a status, or undefined when the request is acceptable. */
  refuse?(req: IncomingMessage, body: any): { status: number; body: unknown } | undefined;
  userTexts(body: any): string[];
  allTexts(body: any): string[];
  /** Whether the request offers tools, and the result of a tool when the last message is one. */
  hasTools(body: any): boolean;
  lastToolResult(body: any): string | undefined;
  /** The embedding response for these vectors, and the texts a request asks to embed. */
  embedTexts(body: any): string[];
  embeddings(vectors: number[][], tokens: number): unknown;
  maxTokens(body: any): number | undefined;
  errorBody(status: number, message: string): unknown;
  authFailure(): { status: number; body: unknown };
  contextLength(): { status: number; body: unknown };
  json(reply: Reply): unknown;
  /** Raw stream frames: before the text, one per text piece, and the terminal ones. */
  frames(reply: Reply): { head: string[]; deltas: string[]; tail: string[] };
  errorFrame(): string;
  malformedFrame(): string;
}

/** `framed`: a stream goes out event by event (SSE, NDJSON), not as one JSON array. */
interface Route {
  vendor: Vendor;
  model?: string;
  stream?: boolean;
  framed: boolean;
  models?: true;
  describe?: true;
  load?: true;
  embed?: true;
}

export class FakeLlm {
  readonly requests: RecordedRequest[] = [];
  private readonly faults: FakeFault[] = [];
  private readonly closing = new AbortController();

  private readonly server: Server;
  private address = '';

  private constructor(private readonly options: FakeLlmOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
  }

  static async start(options: FakeLlmOptions = {}): Promise<FakeLlm> {
    const fake = new FakeLlm(options);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.address = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** `http://127.0.0.1:<port>`, no trailing slash. */
  get url(): string {
    return this.address;
  }

  /** The next request (after any already queued) gets this fault. */
  enqueueFault(fault: FakeFault): void {
    this.faults.push(fault);
  }

  /** Forgets recorded requests and queued faults, e.g. between tests sharing one fake. */
  reset(): void {
    this.requests.length = 0;
    this.faults.length = 0;
  }

  /** What the fake answers to a user text. */
  static reply(userText: string): string {
    return `echo: ${userText}`;
  }

  /** The fake's embedding of a text: 8 numbers from its characters, the same every time. */
  static embedding(text: string): number[] {
    const vector = new Array<number>(8).fill(0);
    for (let i = 0; i < text.length; i++) vector[i % 8] = ((vector[i % 8] ?? 0) * 31 + text.charCodeAt(i)) % 1000;
    return vector.map((v) => v / 1000);
  }

  private modelList(vendor: Vendor): unknown {
    const ids = this.options.models ?? ['fake-model'];
    if (vendor.name === 'anthropic') {
      return { data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' })), has_more: false, first_id: ids[0] ?? null, last_id: ids.at(-1) ?? null };
    }
    return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' })) };
  }

  get lastRequest(): RecordedRequest | undefined {
    return this.requests.at(-1);
  }

  /** Ends hanging and stalled responses too. */
  async close(): Promise<void> {
    this.closing.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    let body: any = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // kept as text: the test asserting on it will say what was wrong
    }
    const query = Object.fromEntries(url.searchParams);
    const route = this.route(req.method ?? 'GET', url.pathname, query, req);
    this.requests.push({ vendor: route?.vendor.name, method: req.method ?? 'GET', path: url.pathname, query, headers: req.headers, body });
    if (!route) return sendJson(res, 404, { error: `no route for ${req.method} ${url.pathname}` });
    const { vendor } = route;

    const fault = this.takeFault(req);
    if (this.options.apiKey !== undefined && vendor.keyOf(req, query) !== this.options.apiKey) {
      const failure = vendor.authFailure();
      return sendJson(res, failure.status, failure.body);
    }
    const refusal = vendor.refuse?.(req, body);
    if (refusal) return sendJson(res, refusal.status, refusal.body);

    switch (fault?.type) {
      case 'status':
        return sendJson(res, fault.status, fault.body ?? vendor.errorBody(fault.status, `fake status ${fault.status}`), fault.headers);
      case 'rate-limit':
        return sendJson(res, 429, vendor.errorBody(429, `rate limited; retry after ${fault.retryAfterSeconds}s`), { 'retry-after': String(fault.retryAfterSeconds) });
      case 'context-length': {
        const failure = vendor.contextLength();
        return sendJson(res, failure.status, failure.body);
      }
      case 'hang':
        // Answer nothing: close() (closeAllConnections) or the client's abort ends it.
        return;
    }
    if (route.models) return sendJson(res, 200, this.modelList(vendor));
    if (route.describe) return sendJson(res, 200, { name: `models/${route.model ?? ''}`, displayName: route.model, inputTokenLimit: 1_048_576, outputTokenLimit: 8192, supportedGenerationMethods: ['generateContent'] });
    if (route.load) return sendJson(res, 200, { model: body?.model, created_at: '2026-01-01T00:00:00Z', response: '', done: true, done_reason: 'load' });
    if (route.embed) {
      const texts = vendor.embedTexts(body);
      return sendJson(res, 200, vendor.embeddings(texts.map(FakeLlm.embedding), texts.reduce((n, t) => n + (t.match(/\S+/g)?.length ?? 0), 0)));
    }

    // OpenAI, Anthropic and Ollama name the model and ask for a stream in the body.
    const reply = this.replyTo(vendor, route.model ?? String(body?.model ?? ''), body);
    if (!(route.stream ?? vendor.bodyStreams(body))) return this.answerJson(res, vendor, reply, fault);
    return this.answerStream(res, vendor, reply, fault, route.framed);
  }

  private async answerJson(res: ServerResponse, vendor: Vendor, reply: Reply, fault: FakeFault | undefined): Promise<void> {
    if (fault?.type === 'slow-first-token' && !(await this.wait(fault.ms))) return;
    const text = JSON.stringify(vendor.json(reply));
    switch (fault?.type) {
      case 'malformed':
        return sendRaw(res, 200, 'application/json', '{"choices": [ this is not json');
      case 'cut':
      case 'stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        if (fault.type === 'cut') res.end();
        return;
      case 'error-event':
        // Some servers answer 200 with nothing but an error object.
        return sendJson(res, 200, vendor.errorBody(500, 'fake error after 200'));
    }
    return sendRaw(res, 200, 'application/json', text);
  }

  private async answerStream(res: ServerResponse, vendor: Vendor, reply: Reply, fault: FakeFault | undefined, framed: boolean): Promise<void> {
    res.writeHead(200, { 'content-type': framed ? vendor.streamContentType : 'application/json', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (fault?.type === 'slow-first-token' && !(await this.wait(fault.ms))) return;
    const { head, deltas, tail } = vendor.frames(reply);
    if (!framed) {
      // Gemini's streamGenerateContent without alt=sse: one JSON array of the chunks.
      res.end(`[${[...head, ...deltas, ...tail].map((f) => f.replace(/^data: /, '').trim()).join(',\n')}]`);
      return;
    }
    let frames: string[];
    switch (fault?.type) {
      case 'cut':
      case 'stall':
        frames = [...head, ...deltas.slice(0, fault.afterChunks)];
        break;
      case 'malformed':
        frames = [...head, vendor.malformedFrame()];
        break;
      case 'error-event':
        frames = [...head, ...deltas.slice(0, 1), vendor.errorFrame()];
        break;
      default:
        frames = [...head, ...deltas, ...tail];
    }
    for (const frame of frames) {
      // Each frame in two writes split mid-way (mid UTF-8 character, even), on separate turns
      // of the event loop, so clients must parse across chunk boundaries.
      const bytes = Buffer.from(frame);
      const half = Math.floor(bytes.length / 2);
      for (const part of [bytes.subarray(0, half), bytes.subarray(half)]) {
        if (this.closing.signal.aborted || res.destroyed) return;
        res.write(part);
        await nextTick();
      }
    }
    if (fault?.type !== 'stall') res.end();
  }

  private replyTo(vendor: Vendor, model: string, body: any): Reply {
    const users = vendor.userTexts(body);
    const toolResult = vendor.lastToolResult(body);
    const toolCalls = vendor.hasTools(body) ? this.scriptedCalls(users.at(-1) ?? '', toolResult !== undefined) : [];
    const text = toolCalls.length > 0 ? '' : toolResult !== undefined ? FakeLlm.reply(`tool said ${toolResult}`) : FakeLlm.reply(users.at(-1) ?? '');
    const words = text.match(/\S+\s*/g) ?? [];
    const max = vendor.maxTokens(body);
    const pieces = max !== undefined && max < words.length ? words.slice(0, max) : words;
    return {
      model,
      pieces,
      toolCalls,
      finish: pieces.length < words.length ? 'length' : 'stop',
      promptTokens: vendor.allTexts(body).reduce((n, t) => n + (t.match(/\S+/g)?.length ?? 0), 0),
      completionTokens: pieces.length + toolCalls.length,
      streamUsage: body?.stream_options?.include_usage === true,
    };
  }

  /**
   * The tool calls a user text scripts: `call <tool> <json>` (one call, until a result is
   * back), `calls [{name, args?, raw?}, ...]` (several in one answer, in parallel; `raw` is the
   * arguments text as sent, malformed JSON included), `call-forever <tool> <json>` (the same
   * call again after every result: a model that never stops).
   */
  private scriptedCalls(text: string, hasResult: boolean): FakeToolCall[] {
    const id = (i: number) => `call_fake_${this.requests.length}_${i}`;
    const forever = /^call-forever (\S+)\s*(.*)$/s.exec(text);
    if (forever) return [{ id: id(0), name: forever[1] ?? '', args: forever[2] ? (JSON.parse(forever[2]) as Record<string, unknown>) : {} }];
    if (hasResult) return [];
    const several = /^calls (\[.*\])$/s.exec(text);
    if (several) {
      const list = JSON.parse(several[1] ?? '[]') as Array<{ name: string; args?: Record<string, unknown>; raw?: string }>;
      return list.map((c, i) => ({ id: id(i), name: c.name, args: c.args ?? {}, ...(c.raw !== undefined && { raw: c.raw }) }));
    }
    const one = /^call (\S+)\s*(.*)$/s.exec(text);
    return one ? [{ id: id(0), name: one[1] ?? '', args: one[2] ? (JSON.parse(one[2]) as Record<string, unknown>) : {} }] : [];
  }

  private takeFault(req: IncomingMessage): FakeFault | undefined {
    const header = req.headers['x-fake-fault'];
    if (typeof header === 'string') return JSON.parse(header) as FakeFault;
    return this.faults.shift();
  }

  /** False when the server closed meanwhile. */
  private async wait(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.closing.signal });
      return true;
    } catch {
      return false;
    }
  }

  private route(method: string, path: string, query: Record<string, string>, req: IncomingMessage): Route | undefined {
    // Anthropic lists models at the same path as OpenAI; its version header tells them apart.
    if (method === 'GET' && path === '/v1/models') return { vendor: header(req, 'anthropic-version') ? anthropic : openai, framed: false, models: true };
    const described = /^\/v1beta\/models\/([^/:]+)$/.exec(path);
    if (method === 'GET' && described) return { vendor: geminiVendor, model: decodeURIComponent(described[1] ?? ''), framed: false, describe: true };
    if (method !== 'POST') return undefined;
    if (path === '/v1/chat/completions') return { vendor: openai, framed: true };
    if (path === '/v1/embeddings') return { vendor: openai, framed: false, embed: true };
    if (path === '/v1/messages') return { vendor: anthropic, framed: true };
    if (path === '/api/chat') return { vendor: ollama, framed: true };
    if (path === '/api/embed') return { vendor: ollama, framed: false, embed: true };
    if (path === '/api/generate') return { vendor: ollama, framed: false, load: true };
    const embed = /^\/v1beta\/models\/([^/:]+):batchEmbedContents$/.exec(path);
    if (embed) return { vendor: geminiVendor, model: decodeURIComponent(embed[1] ?? ''), framed: false, embed: true };
    const gemini = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path);
    if (gemini) return { vendor: geminiVendor, model: decodeURIComponent(gemini[1] ?? ''), stream: gemini[2] === 'streamGenerateContent', framed: query.alt === 'sse' };
    return undefined;
  }
}

/** OpenAI and Ollama requests share a shape: `messages` with roles (tool included), `tools`, an `input` to embed. */
const openAIShapedRequest: Pick<Vendor, 'userTexts' | 'allTexts' | 'hasTools' | 'lastToolResult' | 'embedTexts'> = {
  userTexts: (body) => messagesText(body?.messages, 'user'),
  allTexts: (body) => messagesText(body?.messages),
  hasTools: (body) => Array.isArray(body?.tools) && body.tools.length > 0,
  lastToolResult: (body) => (body?.messages?.at?.(-1)?.role === 'tool' ? String(body.messages.at(-1).content) : undefined),
  embedTexts: (body) => (Array.isArray(body?.input) ? body.input : [String(body?.input ?? '')]),
};

const openai: Vendor = {
  name: 'openai',
  streamContentType: 'text/event-stream; charset=utf-8',
  bodyStreams: (body) => body?.stream === true,
  keyOf: (req) => bearer(req),
  ...openAIShapedRequest,
  embeddings: (vectors, tokens) => ({
    object: 'list',
    data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model: 'fake-embedding',
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  }),
  maxTokens: (body) => body?.max_completion_tokens ?? body?.max_tokens,
  errorBody: (status, message) => ({ error: { message, type: status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: status === 429 ? 'rate_limit_exceeded' : null } }),
  authFailure: () => ({ status: 401, body: { error: { message: 'Incorrect API key provided: sk-fake***. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } }),
  contextLength: () => ({
    status: 400,
    body: { error: { message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens. Please reduce the length of the messages.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } },
  }),
  json: (r) => ({
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: r.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: r.toolCalls.length > 0 ? null : r.pieces.join(''),
          refusal: null,
          ...(r.toolCalls.length > 0 && { tool_calls: r.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: argumentText(c) } })) }),
        },
        logprobs: null,
        finish_reason: r.toolCalls.length > 0 ? 'tool_calls' : r.finish,
      },
    ],
    usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens },
  }),
  frames: (r) => {
    const chunk = (choices: unknown[], extra: object = {}): string => sseData({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model: r.model, choices, ...extra });
    return {
      head: [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])],
      deltas: [
        ...r.pieces.map((p) => chunk([{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null }])),
        // A call is named in one chunk and its arguments follow in pieces, as OpenAI streams them.
        ...r.toolCalls.flatMap((c, index) => [
          chunk([{ index: 0, delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }, logprobs: null, finish_reason: null }]),
          ...halves(argumentText(c)).map((piece) => chunk([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: piece } }] }, logprobs: null, finish_reason: null }])),
        ]),
      ],
      tail: [
        chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: r.toolCalls.length > 0 ? 'tool_calls' : r.finish }]),
        ...(r.streamUsage ? [chunk([], { usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens } })] : []),
        'data: [DONE]\n\n',
      ],
    };
  },
  errorFrame: () => sseData({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } }),
  malformedFrame: () => 'data: {"id": "chatcmpl-fake", "choices": [{"delta": \n\n',
};

const anthropic: Vendor = {
  name: 'anthropic',
  streamContentType: 'text/event-stream; charset=utf-8',
  bodyStreams: (body) => body?.stream === true,
  keyOf: (req) => header(req, 'x-api-key'),
  refuse: (req) => (header(req, 'anthropic-version') ? undefined : { status: 400, body: anthropicError('invalid_request_error', 'anthropic-version: header is required') }),
  userTexts: (body) => messagesText(body?.messages, 'user'),
  allTexts: (body) => [...(typeof body?.system === 'string' ? [body.system] : []), ...messagesText(body?.messages)],
  hasTools: (body) => Array.isArray(body?.tools) && body.tools.length > 0,
  lastToolResult: (body) => {
    const content = body?.messages?.at?.(-1)?.content;
    const result = Array.isArray(content) ? content.find((b: any) => b?.type === 'tool_result') : undefined;
    return result === undefined ? undefined : typeof result.content === 'string' ? result.content : JSON.stringify(result.content);
  },
  // Anthropic has no embeddings API.
  embedTexts: () => [],
  embeddings: () => anthropicError('not_found_error', 'no embeddings'),
  maxTokens: (body) => body?.max_tokens,
  errorBody: (status, message) => anthropicError(anthropicErrorType(status), message),
  authFailure: () => ({ status: 401, body: anthropicError('authentication_error', 'invalid x-api-key') }),
  contextLength: () => ({ status: 400, body: anthropicError('invalid_request_error', 'prompt is too long: 208310 tokens > 200000 maximum') }),
  json: (r) => ({
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model: r.model,
    content: [...(r.pieces.length > 0 ? [{ type: 'text', text: r.pieces.join('') }] : []), ...r.toolCalls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: c.args }))],
    stop_reason: r.toolCalls.length > 0 ? 'tool_use' : r.finish === 'length' ? 'max_tokens' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: r.promptTokens, output_tokens: r.completionTokens },
  }),
  frames: (r) => ({
    head: [
      sseEvent('message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model: r.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: r.promptTokens, output_tokens: 1 } } }),
      sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      sseEvent('ping', { type: 'ping' }),
    ],
    deltas: [
      ...r.pieces.map((p) => sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } })),
      // Each call is a block of its own after the text block, its input streamed as JSON pieces.
      ...r.toolCalls.flatMap((c, i) => [
        ...(i === 0 ? [sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 })] : []),
        sseEvent('content_block_start', { type: 'content_block_start', index: i + 1, content_block: { type: 'tool_use', id: c.id, name: c.name, input: {} } }),
        ...halves(argumentText(c)).map((piece) => sseEvent('content_block_delta', { type: 'content_block_delta', index: i + 1, delta: { type: 'input_json_delta', partial_json: piece } })),
        sseEvent('content_block_stop', { type: 'content_block_stop', index: i + 1 }),
      ]),
    ],
    tail: [
      ...(r.toolCalls.length === 0 ? [sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 })] : []),
      sseEvent('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: r.toolCalls.length > 0 ? 'tool_use' : r.finish === 'length' ? 'max_tokens' : 'end_turn', stop_sequence: null },
        usage: { output_tokens: r.completionTokens },
      }),
      sseEvent('message_stop', { type: 'message_stop' }),
    ],
  }),
  errorFrame: () => sseEvent('error', anthropicError('overloaded_error', 'Overloaded')),
  malformedFrame: () => 'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n',
};

const geminiVendor: Vendor = {
  name: 'gemini',
  streamContentType: 'text/event-stream',
  // The URL says it (streamGenerateContent).
  bodyStreams: () => false,
  keyOf: (req, query) => header(req, 'x-goog-api-key') ?? query.key,
  userTexts: (body) => geminiTexts(body, 'user'),
  allTexts: (body) => [...geminiTexts(body), ...((body?.systemInstruction?.parts ?? []) as Array<{ text?: string }>).map((p) => p.text ?? '')],
  hasTools: (body) => Array.isArray(body?.tools?.[0]?.functionDeclarations),
  lastToolResult: (body) => {
    const parts: any[] = body?.contents?.at?.(-1)?.parts ?? [];
    const response = parts.find((p) => p?.functionResponse)?.functionResponse?.response;
    return response === undefined ? undefined : typeof response.content === 'string' ? response.content : JSON.stringify(response);
  },
  embedTexts: (body) => (Array.isArray(body?.requests) ? body.requests.map((r: any) => r?.content?.parts?.[0]?.text ?? '') : []),
  embeddings: (vectors) => ({ embeddings: vectors.map((values) => ({ values })) }),
  maxTokens: (body) => body?.generationConfig?.maxOutputTokens,
  errorBody: (status, message) => ({
    error: {
      code: status,
      message,
      status: googleStatus(status),
      ...(status === 429 && { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${/(\d+)s/.exec(message)?.[1] ?? '1'}s` }] }),
    },
  }),
  // Google refuses a bad key with a 400, not a 401.
  authFailure: () => ({
    status: 400,
    body: { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } },
  }),
  contextLength: () => ({ status: 400, body: { error: { code: 400, message: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).', status: 'INVALID_ARGUMENT' } } }),
  json: (r) => ({
    candidates: [{ content: { parts: geminiParts(r), role: 'model' }, finishReason: r.finish === 'length' ? 'MAX_TOKENS' : 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: r.promptTokens, candidatesTokenCount: r.completionTokens, totalTokenCount: r.promptTokens + r.completionTokens },
    modelVersion: r.model,
  }),
  // Google separates events with CRLF pairs, which clients must handle as well as LF.
  frames: (r) => ({
    head: [],
    deltas: [
      ...r.pieces.map((p) => geminiData({ candidates: [{ content: { parts: [{ text: p }], role: 'model' }, index: 0 }], usageMetadata: { promptTokenCount: r.promptTokens }, modelVersion: r.model })),
      // Gemini sends a function call whole.
      ...r.toolCalls.map((c) => geminiData({ candidates: [{ content: { parts: [{ functionCall: { name: c.name, args: c.args } }], role: 'model' }, index: 0 }], modelVersion: r.model })),
    ],
    tail: [
      geminiData({
        candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, finishReason: r.finish === 'length' ? 'MAX_TOKENS' : 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: r.promptTokens, candidatesTokenCount: r.completionTokens, totalTokenCount: r.promptTokens + r.completionTokens },
        modelVersion: r.model,
      }),
    ],
  }),
  errorFrame: () => geminiData({ error: { code: 500, message: 'An internal error has occurred.', status: 'INTERNAL' } }),
  malformedFrame: () => 'data: {"candidates": [{"content": \r\n\r\n',
};

const ollama: Vendor = {
  name: 'ollama',
  streamContentType: 'application/x-ndjson',
  // Ollama streams unless told not to.
  bodyStreams: (body) => body?.stream !== false,
  keyOf: (req) => bearer(req),
  ...openAIShapedRequest,
  embeddings: (vectors, tokens) => ({ model: 'fake-embedding', embeddings: vectors, total_duration: 1_000, load_duration: 1_000, prompt_eval_count: tokens }),
  maxTokens: (body) => body?.options?.num_predict,
  errorBody: (_status, message) => ({ error: message }),
  authFailure: () => ({ status: 401, body: { error: 'unauthorized' } }),
  contextLength: () => ({ status: 400, body: { error: 'the input length exceeds the context length' } }),
  json: (r) => ({ ...ollamaDone(r), message: { role: 'assistant', content: r.pieces.join(''), ...ollamaToolCalls(r) } }),
  frames: (r) => ({
    head: [],
    deltas: [
      ...r.pieces.map((p) => `${JSON.stringify({ model: r.model, created_at: '2026-01-01T00:00:00Z', message: { role: 'assistant', content: p }, done: false })}\n`),
      ...(r.toolCalls.length > 0 ? [`${JSON.stringify({ model: r.model, created_at: '2026-01-01T00:00:00Z', message: { role: 'assistant', content: '', ...ollamaToolCalls(r) }, done: false })}\n`] : []),
    ],
    tail: [`${JSON.stringify(ollamaDone(r))}\n`],
  }),
  errorFrame: () => `${JSON.stringify({ error: 'an error was encountered while running the model: unexpected EOF' })}\n`,
  malformedFrame: () => '{"model": "fake", "message": {"role": \n',
};

function ollamaDone(r: Reply): object {
  return {
    model: r.model,
    created_at: '2026-01-01T00:00:00Z',
    message: { role: 'assistant', content: '' },
    done: true,
    done_reason: r.finish,
    total_duration: 1_000_000,
    load_duration: 1_000,
    prompt_eval_count: r.promptTokens,
    prompt_eval_duration: 1_000,
    eval_count: r.completionTokens,
    eval_duration: 1_000,
  };
}

function ollamaToolCalls(r: Reply): object {
  return r.toolCalls.length > 0 ? { tool_calls: r.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.args } })) } : {};
}

function geminiParts(r: Reply): object[] {
  return [...(r.pieces.length > 0 || r.toolCalls.length === 0 ? [{ text: r.pieces.join('') }] : []), ...r.toolCalls.map((c) => ({ functionCall: { name: c.name, args: c.args } }))];
}

/** A text in two pieces, as vendors split a streamed call's arguments. */
function halves(text: string): string[] {
  const half = Math.ceil(text.length / 2);
  return [text.slice(0, half), text.slice(half)].filter((piece) => piece.length > 0);
}

function sseData(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function geminiData(data: unknown): string {
  return `data: ${JSON.stringify(data)}\r\n\r\n`;
}

function anthropicError(type: string, message: string): unknown {
  return { type: 'error', error: { type, message } };
}

function anthropicErrorType(status: number): string {
  const types: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 529: 'overloaded_error' };
  return types[status] ?? 'api_error';
}

function googleStatus(status: number): string {
  const statuses: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };
  return statuses[status] ?? 'INTERNAL';
}

/** Message contents as text, whether a string or an array of text parts. */
function messagesText(messages: unknown, role?: string): string[] {
  if (!Array.isArray(messages)) return [];
  return messages
    .filter((m) => role === undefined || m?.role === role)
    .map((m) => (typeof m?.content === 'string' ? m.content : Array.isArray(m?.content) ? m.content.map((p: any) => p?.text ?? '').join('') : ''));
}

function geminiTexts(body: any, role?: string): string[] {
  const contents: any[] = Array.isArray(body?.contents) ? body.contents : [];
  return contents.filter((c) => role === undefined || c?.role === role).flatMap((c) => (Array.isArray(c?.parts) ? c.parts.map((p: any) => p?.text ?? '') : []));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer (.+)$/.exec(header(req, 'authorization') ?? '')?.[1];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendRaw(res, status, 'application/json', JSON.stringify(body), headers);
}

function sendRaw(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
