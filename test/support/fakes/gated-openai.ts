import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible chat model that streams its reply in words and holds the last one back
 * until the test calls `release()`: a test sees the first tokens arrive while the reply is
 * unfinished, without sleeping. The reply to a user text is `Hello from the **model**: <text>`.
 * It serves GET /v1/models (Pincer's warm-up) and POST /v1/chat/completions.
 */
export class GatedOpenAI {
  private readonly server: Server;
  private gate!: Promise<void>;
  private open!: () => void;
  private address = '';
  /** Requests that have streamed all but the held-back piece. */
  held = 0;

  private constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.arm();
  }

  static async start(): Promise<GatedOpenAI> {
    const fake = new GatedOpenAI();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.address = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  get url(): string {
    return this.address;
  }

  static reply(text: string): string {
    return `Hello from the **model**: ${text}`;
  }

  /** Lets every held reply finish; later replies are held again. */
  release(): void {
    this.open();
    this.arm();
  }

  async close(): Promise<void> {
    this.open();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private arm(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    if (req.method === 'GET' && req.url === '/v1/models') {
      // Pincer's warm-up lists the models.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'gated', object: 'model', created: 1_700_000_000, owned_by: 'test' }] }));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    const body = JSON.parse(raw) as { model: string; stream?: boolean; messages: Array<{ role: string; content: unknown }> };
    const last = [...body.messages].reverse().find((m) => m.role === 'user');
    const text = GatedOpenAI.reply(typeof last?.content === 'string' ? last.content : '');
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-gated', object: 'chat.completion.chunk', created: 1_700_000_000, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ id: 'chatcmpl-gated', object: 'chat.completion', created: 1_700_000_000, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }),
      );
      return;
    }
    const pieces = text.match(/\S+\s*/g) ?? [];
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(chunk({ role: 'assistant', content: '' }, null));
    for (const piece of pieces.slice(0, -1)) res.write(chunk({ content: piece }, null));
    this.held++;
    await this.gate;
    this.held--;
    if (res.destroyed) return;
    res.write(chunk({ content: pieces.at(-1) ?? '' }, null));
    res.write(chunk({}, 'stop'));
    res.end('data: [DONE]\n\n');
  }
}
