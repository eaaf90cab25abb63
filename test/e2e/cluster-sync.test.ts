import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeLlm } from '../support/fake-llm.js';
import { postJson, sendHostileMix, tempDir } from '../support/index.js';
import { startNginx, writeShippedNginxConfig } from '../support/nginx.js';
import { dropSchema, PG_URL } from '../support/postgres.js';
import { freePort, spawnPincer, type PincerProcess } from '../support/process.js';
import { completionText, readSse, type SseEvent } from '../support/sse.js';

/**
 * The synchronous APIs across nodes: an API-only node (workers.enabled: false) and a worker
 * node on one PostgreSQL, behind the shipped nginx config. Every message sent to the API-only
 * node is processed by the other, so `?wait=`, SSE and the OpenAI endpoint (plain and
 * streamed) work only if message events cross nodes. Then the worker node is killed with
 * SIGKILL in the middle of a streamed reply, and a new worker node finishes it.
 */
describe('cluster: the synchronous APIs answer whichever node processes the message', () => {
  const { dir, cleanup } = tempDir('pincer-sync-');
  const schema = `pincer_sync_${process.pid}_${Date.now()}`;
  const nodes: PincerProcess[] = [];
  const children: ChildProcess[] = [];
  let fake: FakeLlm;
  let api: PincerProcess;
  let worker: PincerProcess;
  let base: string;

  const nodeEnv = (name: string, port: number, workers: boolean): Record<string, string> => ({
    PINCER_STORE: `${PG_URL}?schema=${schema}`,
    PINCER_CONFIG: path.join(dir, 'pincer.config.yaml'),
    PINCER_DATA_DIR: path.join(dir, name),
    PINCER_PORT: String(port),
    PINCER_LOG_LEVEL: 'info',
    PINCER_LOG_ACCESS: 'false',
    PINCER_PLUGINS_ENABLED: 'commands',
    PINCER_WORKERS_ENABLED: String(workers),
    // A dead node's message is re-delivered once its lease runs out.
    PINCER_QUEUE_LEASE: '2s',
  });

  beforeAll(async () => {
    fake = await FakeLlm.start();
    writeFileSync(path.join(dir, 'pincer.config.yaml'), `models:\n  default:\n    - { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model }\n  history_tokens: 0\n`);
    const [apiPort, workerPort, nginxPort] = [await freePort(), await freePort(), await freePort()];
    api = await spawnPincer(nodeEnv('api', apiPort, false), dir);
    worker = await spawnPincer(nodeEnv('worker', workerPort, true), dir);
    nodes.push(api, worker);
    const nginxDir = path.join(dir, 'nginx');
    const upstreamFile = path.join(dir, 'upstream.conf');
    writeFileSync(upstreamFile, `upstream pincer {\n  least_conn;\n  server 127.0.0.1:${apiPort};\n  server 127.0.0.1:${workerPort};\n  keepalive 32;\n}\n`);
    const nginx = await startNginx(nginxDir, writeShippedNginxConfig({ prefix: nginxDir, upstreamFile, port: nginxPort }), nginxPort);
    children.push(nginx.child);
    base = nginx.base;
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes) node.child.kill('SIGKILL');
    for (const child of children) child.kill('SIGTERM');
    await fake?.close();
    await dropSchema(schema);
    cleanup();
  });

  it('answers ?wait= on the API-only node with the reply the worker node stored', async () => {
    const started = Date.now();
    const res = await postJson(`${api.url}/v1/messages?wait=10`, { text: 'hello across nodes' });
    const ms = Date.now() - started;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'done', reply: { text: FakeLlm.reply('hello across nodes') } });
    // Well under the 10 s asked for: the waiter heard the other node, it did not time out.
    console.info(`cross-node ?wait= answered in ${ms} ms`);
  });

  it('answers ?wait= through nginx for every request, whichever node takes it', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => postJson(`${base}/v1/messages?wait=10`, { text: `via nginx ${i}` })));
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    results.forEach((r, i) => expect(r.body.reply.text).toBe(FakeLlm.reply(`via nginx ${i}`)));
  });

  it('refuses hostile bodies alone on PostgreSQL: 50 good neighbours sent through nginx are accepted', async () => {
    const { good, hostile } = await sendHostileMix(base);
    expect(good).toEqual(good.map(() => 202));
    expect(hostile).toEqual(hostile.map(() => ({ status: 400, code: 'METADATA_TOO_DEEP' })));
  });

  it('ends an SSE stream opened on the API-only node while the message is in flight', async () => {
    fake.enqueueFault({ type: 'slow-first-token', ms: 800 });
    const sent = await postJson(`${api.url}/v1/messages`, { text: 'watch me' });
    expect(sent.status).toBe(202);
    const events = await readSse(await fetch(`${api.url}/v1/messages/${sent.body.id}/events`));
    expect(events.at(-1)?.event).toBe('end');
    expect(events.filter((e) => e.event === 'status').at(-1)?.data).toMatchObject({ status: 'done' });
    expect(events.find((e) => e.event === 'reply')?.data).toMatchObject({ text: FakeLlm.reply('watch me') });
    const tokens = events.filter((e) => e.event === 'token').map((e) => e.data.delta as string);
    // The first token waited 800 ms, so the stream was open for all of them.
    expect(tokens.join('')).toBe(FakeLlm.reply('watch me'));
  });

  it('answers the OpenAI endpoint on the API-only node, plain and streamed, and through nginx', async () => {
    const body = (content: string, stream: boolean) => ({ model: 'pincer', stream, messages: [{ role: 'user', content }] });
    const plain = await postJson(`${api.url}/v1/chat/completions`, body('plain question', false));
    expect(plain.status).toBe(200);
    expect(plain.body.choices[0].message.content).toBe(FakeLlm.reply('plain question'));

    fake.enqueueFault({ type: 'slow-first-token', ms: 500 });
    const streamed = await fetch(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body('streamed question', true)) });
    const events = await readSse(streamed);
    const result = completionText(events);
    expect(result).toEqual({ text: FakeLlm.reply('streamed question'), done: true });
    // (That tokens cross nodes before the reply is stored, not only the stored text at the end,
    // is shown by the next test: the first chunk arrives while the worker is still stalled.)

    const viaNginx = await Promise.all([0, 1, 2, 3].map(async (i) => completionText(await readSse(await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(`nginx stream ${i}`, true)) })))));
    viaNginx.forEach((r, i) => expect(r).toEqual({ text: FakeLlm.reply(`nginx stream ${i}`), done: true }));
  });

  it('finishes a stream whose worker node is killed mid-reply: the next attempt, on another node, completes it', async () => {
    // The worker's model call stalls after two chunks: the reply is half streamed when the node dies.
    fake.enqueueFault({ type: 'stall', afterChunks: 2 });
    const text = 'survive the crash';
    const openai = fetch(`${api.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-conversation-id': 'crash-conv' }, body: JSON.stringify({ model: 'pincer', stream: true, messages: [{ role: 'user', content: text }] }) });
    let killed = false;
    let replacement: Promise<PincerProcess> | undefined;
    const onChunk = (e: SseEvent) => {
      if (killed || !e.data?.choices?.[0]?.delta?.content) return;
      const sofar = e.data.choices[0].delta.content as string;
      if (!sofar) return;
      // The first tokens crossed nodes: now kill the node that is producing them.
      killed = true;
      worker.child.kill('SIGKILL');
      replacement = worker.exited.then(() => spawnPincer(nodeEnv('worker2', Number(new URL(worker.url).port), true), dir));
    };
    const events = await readSse(await openai, onChunk);
    expect(killed).toBe(true);
    const survivor = await replacement!;
    nodes.push(survivor);
    // Defined behaviour: the retry's reply is the same text, so the stream completes without splicing.
    const result = completionText(events);
    expect(result).toEqual({ text: FakeLlm.reply(text), done: true });
    const record = await (await fetch(`${api.url}/v1/messages/${events[0]!.data.id.replace('chatcmpl-', '')}`)).json();
    expect(record).toMatchObject({ status: 'done', attempts: 2, reply: { text: FakeLlm.reply(text) } });
  }, 60_000);
});
