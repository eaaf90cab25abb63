/**
 * The tool loop's journal across SIGKILL: a Pincer process with a plugin's write tools (each run
 * appended to a ledger file) and the OpenAI-compatible fake LLM in this process. The process is
 * killed mid-loop and started again on the same data folder; the redelivered message must
 * replay what finished and never run a write tool twice unless the tool is idempotent.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeLlm } from '../support/fake-llm.js';
import { eventually, getJson, pluginProject, postJson } from '../support/index.js';
import { freePort, spawnPincer, type PincerProcess } from '../support/process.js';

interface LedgerRun {
  tool: string;
  key: string;
  entry: string;
  attempt: number;
}

describe('end to end: the tool loop across SIGKILL', () => {
  let fake: FakeLlm;
  let project: { root: string; cleanup: () => void };
  let server: PincerProcess | undefined;
  let env: Record<string, string>;
  let ledger: string;
  const runs = (): LedgerRun[] => (existsSync(ledger) ? readFileSync(ledger, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LedgerRun) : []);
  const chatRequests = () => fake.requests.filter((r) => r.path.endsWith('/chat/completions')).length;

  beforeAll(async () => {
    fake = await FakeLlm.start();
    project = pluginProject(['ledger']);
    ledger = path.join(project.root, 'ledger.jsonl');
    writeFileSync(path.join(project.root, 'pincer.config.yaml'), `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }\n`);
  });
  afterEach(async () => {
    server?.child.kill('SIGKILL');
    await server?.exited;
    server = undefined;
  });
  afterAll(async () => {
    await fake?.close();
    project?.cleanup();
  });

  /** A fresh data folder per test; the same one across its kill. */
  const start = async (dataDir?: string) => {
    const dir = dataDir ?? path.join(project.root, `data-${Math.random().toString(36).slice(2)}`);
    env = { PINCER_DATA_DIR: dir, PINCER_PORT: String(await freePort()), PINCER_LOG_ACCESS: 'false', PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'ledger', LEDGER_FILE: ledger };
    server = await spawnPincer(env, project.root);
    return dir;
  };
  const kill = async () => {
    server!.child.kill('SIGKILL');
    await server!.exited;
  };
  const replyOf = async (id: string) => {
    const done = await eventually(() => getJson(`${server!.url}/v1/messages/${id}`), (r) => r.body.status === 'done' || r.body.status === 'dead', 30_000, 'the reply');
    expect(done.body.status).toBe('done');
    return done.body.reply as { text: string; data: Record<string, unknown> };
  };

  it('does not run a write tool again when the process died while it ran: the model hears its outcome is unknown', async () => {
    const dir = await start();
    const sent = await postJson(`${server!.url}/v1/messages`, { text: 'call ledger_write {"entry":"refund A-1","hold_first":true}' });
    expect(sent.status).toBe(202);
    await eventually(runs, (r) => r.some((x) => x.entry === 'refund A-1'), 20_000, 'the tool to start');
    await kill();
    await start(dir);
    const reply = await replyOf(sent.body.id);
    const mine = runs().filter((r) => r.entry === 'refund A-1');
    expect(mine).toHaveLength(1);
    expect(reply.data['steps']).toEqual([{ tool: 'ledger_write', ok: false, ms: 0, error: 'outcome_unknown' }]);
    expect(reply.text).toContain('outcome_unknown');
    // The model's first answer (the call) came from the journal, not from a second request.
    expect(reply.data['replayed']).toBe(1);
  });

  it('runs an idempotent tool again after the process died while it ran, with the same idempotency key', async () => {
    const dir = await start();
    const sent = await postJson(`${server!.url}/v1/messages`, { text: 'call ledger_idempotent {"entry":"ticket B-2","hold_first":true}' });
    await eventually(runs, (r) => r.some((x) => x.entry === 'ticket B-2'), 20_000, 'the tool to start');
    await kill();
    await start(dir);
    const reply = await replyOf(sent.body.id);
    const mine = runs().filter((r) => r.entry === 'ticket B-2');
    expect(mine).toHaveLength(2);
    expect(mine[0]!.key).toBe(mine[1]!.key);
    expect(mine[0]!.key).toBe(`${sent.body.id}:0:0`);
    expect(mine[1]!.attempt).toBeGreaterThan(mine[0]!.attempt);
    expect(reply.data['steps']).toEqual([{ tool: 'ledger_idempotent', ok: true, ms: expect.any(Number) }]);
    expect(reply.text).toContain('ticket B-2');
  });

  it('replays a finished tool call from the journal when the process died during the next model call', async () => {
    const dir = await start();
    const before = chatRequests();
    // The second model call (the one given the tool's result) never answers: the kill comes then.
    fake.enqueueFault({ type: 'none' });
    fake.enqueueFault({ type: 'hang' });
    const first = fake.requests.length;
    const sent = await postJson(`${server!.url}/v1/messages`, { text: 'call ledger_write {"entry":"invoice C-3"}' });
    await eventually(() => chatRequests(), (n) => n >= before + 2, 20_000, 'the second model call');
    expect(fake.requests.length).toBeGreaterThan(first);
    await kill();
    await start(dir);
    const reply = await replyOf(sent.body.id);
    expect(runs().filter((r) => r.entry === 'invoice C-3')).toHaveLength(1);
    // Two calls before the kill, one after: the first answer and the tool's result were replayed.
    expect(chatRequests()).toBe(before + 3);
    expect(reply.data['replayed']).toBe(2);
    expect(reply.data['steps']).toEqual([{ tool: 'ledger_write', ok: true, ms: expect.any(Number) }]);
    expect(reply.text).toContain('invoice C-3');
  });
});
