import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { createOpenAIModel } from '../src/models/providers/openai.js';
import { ModelRouter } from '../src/models/router.js';

const CALLS = Number(process.env.BENCH_MODEL_CALLS ?? 5_000);

/**
 * An OpenAI-compatible server that answers every completion at once, for measuring overhead.
 * With `callTool`, a streamed request that offers tools and has no tool result yet is answered
 * with one call of that tool (arguments `{}`): one tool call per turn.
 */
export async function instantLlm(options: { callTool?: string } = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const body = JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 0,
    model: 'bench',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Benchmarks are fun.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
  });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const parsed = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as { stream?: boolean; tools?: unknown[]; messages?: Array<{ role: string }> }) : {};
      const wantsCall = options.callTool !== undefined && (parsed.tools?.length ?? 0) > 0 && parsed.messages?.at(-1)?.role !== 'tool';
      if (req.url?.endsWith('/models')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"bench"}]}');
      } else if (parsed.stream && wantsCall) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const call = { index: 0, id: 'call_bench', type: 'function', function: { name: options.callTool, arguments: '{}' } };
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { tool_calls: [call] }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      } else if (parsed.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const word of ['Benchmarks ', 'are ', 'fun.']) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: word }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 4 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function meanUs(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 500; i++) await run();
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await run();
  return ((performance.now() - started) * 1000) / CALLS;
}

/** Cost of the model layer per call over a raw undici request to the same server, one call at a time. */
export async function modelOverhead(): Promise<{ rawUs: number; providerUs: number; routerUs: number }> {
  const llm = await instantLlm();
  const pool = new Pool(llm.url);
  const payload = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'hi' }] });
  const model = createOpenAIModel({ provider: 'openai-compatible', baseUrl: `${llm.url}/v1`, model: 'bench' });
  const router = new ModelRouter('bench', [{ id: 'bench', model }], {
    attemptsPerDeployment: 2, maxAttempts: 4, backoffMs: 100, maxBackoffMs: 1000, maxRetryAfterMs: 1000, cooldownAfter: 3, cooldownMs: 1000,
    timeouts: { totalMs: 10_000, firstTokenMs: 10_000, chunkMs: 10_000 },
  });
  const request = { messages: [{ role: 'user' as const, content: 'hi' }] };
  try {
    const rawUs = await meanUs(async () => {
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: payload });
      await res.body.json();
    });
    const providerUs = await meanUs(() => model.doGenerate(request));
    const routerUs = await meanUs(() => router.doGenerate(request));
    return { rawUs, providerUs, routerUs };
  } finally {
    await model.close();
    await pool.close();
    await llm.close();
  }
}
