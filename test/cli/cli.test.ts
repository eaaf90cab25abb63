import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeLlm } from '../support/fake-llm.js';
import { linkBuildTools, npm, tempDir } from '../support/index.js';
import { freePort, runCli, spawnPincer, type PincerProcess } from '../support/process.js';

describe('pincer CLI against a running server', () => {
  const { dir, cleanup } = tempDir('pincer-cli-');
  let server: PincerProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    const port = await freePort();
    env = { PINCER_DATA_DIR: dir, PINCER_PORT: String(port), PINCER_LOG_LEVEL: 'warn', PINCER_URL: '', PINCER_TOKEN: '' };
    server = await spawnPincer({ ...env, PINCER_LOG_LEVEL: 'info' }, dir);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    cleanup();
  });

  it('send --wait prints the reply', async () => {
    const result = await runCli(['send', '/echo hello from the cli', '--wait', '5'], { cwd: dir, env });
    expect(result).toMatchObject({ code: 0, stdout: 'hello from the cli\n' });
  });

  it('send without --wait prints the queued id, --json prints the API answer', async () => {
    const plain = await runCli(['send', '/ping'], { cwd: dir, env });
    expect(plain.stdout).toMatch(/^queued [0-9a-f-]{36} \(conversation [0-9a-f-]{36}\)\n$/);
    const json = await runCli(['--json', 'send', '/ping', '--wait'], { cwd: dir, env });
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'done', reply: { text: 'pong' } });
  });

  it('chat runs a conversation from stdin', async () => {
    const result = await runCli(['chat', '--conversation', 'cli-chat'], { cwd: dir, env, input: '/echo first\n/ping\n/quit\n/echo never\n' });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('bot> first\nbot> pong\n');
  });

  it('queue stats, dead and retry speak to the admin API', async () => {
    const stats = await runCli(['--json', 'queue', 'stats'], { cwd: dir, env });
    const parsed = JSON.parse(stats.stdout);
    expect(parsed.queue).toMatchObject({ backend: 'sqlite', limit: 10_000 });
    expect(parsed.queue.completed).toBeGreaterThanOrEqual(3);
    const human = await runCli(['queue', 'stats'], { cwd: dir, env });
    expect(human.stdout).toMatch(/^backend\s+sqlite$/m);
    expect((await runCli(['queue', 'dead'], { cwd: dir, env })).stdout).toBe('no dead letters\n');
    expect((await runCli(['queue', 'retry', '--all'], { cwd: dir, env })).stdout).toBe('0 message(s) back in the queue\n');
    const noArgs = await runCli(['queue', 'retry'], { cwd: dir, env });
    expect(noArgs.code).toBe(1);
    expect(noArgs.stderr).toMatch(/name message ids, or pass --all/);
  });

  it('doctor sees the running server and its locked store', async () => {
    const result = await runCli(['--json', 'doctor'], { cwd: dir, env });
    const report = JSON.parse(result.stdout);
    expect(result.code).toBe(0);
    const byName = Object.fromEntries(report.checks.map((c: any) => [c.name, c]));
    expect(byName.config.status).toBe('ok');
    expect(byName.storage.detail).toMatch(/open in a running Pincer/);
    expect(byName.port.detail).toMatch(/served by a running Pincer/);
    expect(byName.disk.status).not.toBe('fail');
  });
});

describe('pincer CLI without a server', () => {
  const { dir, cleanup } = tempDir('pincer-cli-');
  let blocker: Server;
  afterAll(() => {
    blocker?.close();
    cleanup();
  });

  it('start refuses a bad config, naming the key, value and expectation (exit 78)', async () => {
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'queue:\n  max_length: -5\n');
    const result = await runCli(['start'], { cwd: dir, env: { PINCER_DATA_DIR: dir } });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('queue.max_length = -5 (from pincer.config.yaml): expected a value greater than 0');
  });

  it('doctor reports a bad config and a port taken by another program', async () => {
    const bad = await runCli(['doctor'], { cwd: dir, env: { PINCER_DATA_DIR: dir } });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAIL\s+config\s+Invalid configuration/);
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'queue:\n  max_length: 50\n');
    const port = await freePort();
    blocker = createServer(() => {});
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    const taken = await runCli(['--json', 'doctor'], { cwd: dir, env: { PINCER_DATA_DIR: dir, PINCER_PORT: String(port) } });
    expect(taken.code).toBe(1);
    const port_ = JSON.parse(taken.stdout).checks.find((c: any) => c.name === 'port');
    expect(port_).toMatchObject({ status: 'fail' });
    expect(port_.detail).toMatch(/taken by another program/);
  });

  it('doctor checks each model deployment: built in, reachable, a refused key, a missing MODEL_PATH', async () => {
    const fake = await FakeLlm.start({ apiKey: 'sk-right-key' });
    const project = tempDir('pincer-cli-doctor-');
    try {
      const deployment = (id: string, key: string) => `{ id: ${id}, provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model, api_key: ${key} }`;
      writeFileSync(path.join(project.dir, 'pincer.config.yaml'), `models: { default: [ ${deployment('good', 'sk-right-key')}, ${deployment('refused', 'sk-wrong-key')}, { provider: local } ] }\n`);
      const env = { PINCER_DATA_DIR: project.dir, PINCER_PORT: String(await freePort()) };
      const result = await runCli(['--json', 'doctor'], { cwd: project.dir, env });
      expect(result.code).toBe(1);
      const byName = Object.fromEntries(JSON.parse(result.stdout).checks.map((c: any) => [c.name, c]));
      expect(byName['model good']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/fake-model \(from models\.default\[0\]\): reachable/) });
      expect(byName['model refused']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/Incorrect API key/) });
      expect(byName['model local']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/built in, needs no key/) });

      writeFileSync(path.join(project.dir, 'pincer.config.yaml'), '{}\n');
      const missing = await runCli(['doctor'], { cwd: project.dir, env: { ...env, MODEL_PATH: path.join(project.dir, 'absent.gguf') } });
      expect(missing.code).toBe(1);
      expect(missing.stdout).toMatch(/FAIL\s+models\s+MODEL_PATH=\S+absent\.gguf: no such file/);
    } finally {
      await fake.close();
      project.cleanup();
    }
  });

  it('bench refuses an unknown section, naming the known ones', async () => {
    const result = await runCli(['bench', '--only', 'nope'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/BENCH_UNKNOWN_SECTION: --only: no section "nope"; sections: startup, http, queue, latency, plugins, models, cluster/);
  });

  it('send explains an unreachable server', async () => {
    const port = await freePort();
    const result = await runCli(['send', 'hi'], { cwd: dir, env: { PINCER_URL: `http://127.0.0.1:${port}` } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/CLI_UNREACHABLE: cannot reach Pincer at http:\/\/127\.0\.0\.1:\d+ .*is `pincer start` running/);
  });

  it('models list shows the configured deployments without a running server', async () => {
    const { dir, cleanup } = tempDir('pincer-cli-models-');
    try {
      const result = await runCli(['models', 'list'], { cwd: dir, env: { PINCER_URL: '', PINCER_PORT: String(await freePort()) } });
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Pincer is not running/);
      expect(result.stdout).toMatch(/^local\s+local\s+local\/intents\s+0\s+1\s+default \(no model configured\)/m);
    } finally {
      cleanup();
    }
  });

  it('start refuses to expose an open API on a public address', async () => {
    writeFileSync(path.join(dir, 'pincer.config.yaml'), 'server:\n  host: 0.0.0.0\n');
    const result = await runCli(['start'], { cwd: dir, env: { PINCER_DATA_DIR: dir, PINCER_API_TOKENS: '', PINCER_ADMIN_TOKENS: '' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/CONFIG_INSECURE_BIND: refusing to listen on 0\.0\.0\.0 without API tokens/);
  });
});

describe('pincer plugin', () => {
  const { dir, cleanup } = tempDir('pincer-cli-plugins-');
  let server: PincerProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    const port = await freePort();
    env = { PINCER_DATA_DIR: path.join(dir, 'data'), PINCER_PORT: String(port), PINCER_LOG_LEVEL: 'warn', PINCER_URL: '', PINCER_TOKEN: '', PINCER_PLUGINS_ENABLED: 'commands' };
    server = await spawnPincer({ ...env, PINCER_LOG_LEVEL: 'info' }, dir);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    cleanup();
  });

  it('lists, disables, enables and reloads plugins of the running bot', async () => {
    const list = await runCli(['plugin', 'list'], { cwd: dir, env });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^commands\s+1\.0\.0\s+enabled\s+bundled\s+.*commands help,ping,echo,stats/m);
    expect(list.stdout).toMatch(/^sentiment\s+1\.0\.0\s+disabled\s+bundled\s+not in plugins\.enabled/m);
    expect((await runCli(['plugin', 'disable', 'commands'], { cwd: dir, env })).stdout).toBe('commands: disabled - disabled by an operator\n');
    expect((await runCli(['send', '/ping', '--wait', '5'], { cwd: dir, env })).stdout).toMatch(/Unknown command \/ping/);
    expect((await runCli(['plugin', 'enable', 'commands'], { cwd: dir, env })).stdout).toMatch(/^commands: enabled \(generation 2\)\n$/);
    expect((await runCli(['plugin', 'reload', 'commands'], { cwd: dir, env })).stdout).toMatch(/^commands: enabled \(generation 3\)\n$/);
    const missing = await runCli(['plugin', 'enable', 'nope'], { cwd: dir, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^pincer: PLUGIN_NOT_FOUND: no plugin named "nope"/);
  });

  it('creates a plugin with `plugin new` that, built and installed, answers in the running bot without a restart', async () => {
    const created = await runCli(['plugin', 'new', 'tally'], { cwd: dir, env });
    expect(created.code).toBe(0);
    const pluginDir = path.join(dir, 'plugins', 'tally');
    expect(created.stdout).toContain(`created plugin tally in ${pluginDir}`);
    linkBuildTools(pluginDir);
    npm(pluginDir, ['test']);
    const installed = await runCli(['plugin', 'install', 'plugins/tally'], { cwd: dir, env });
    expect(installed.stderr).toBe(`installing ${pluginDir} ...\n`);
    expect(installed.stdout).toMatch(/^installed pincer-plugin-tally@0\.1\.0 in .*plugins\/tally\ntally: enabled \(generation 1\)\n$/);
    const reply = await runCli(['--json', 'send', '/tally one two three', '--wait', '10'], { cwd: dir, env });
    const message = JSON.parse(reply.stdout);
    expect(message).toMatchObject({ status: 'done', reply: { responder: 'commands' } });
    expect(message.analysis.tally).toBeDefined();
    expect((await runCli(['plugin', 'list'], { cwd: dir, env })).stdout).toMatch(/^tally\s+0\.1\.0\s+enabled\s+plugins\s/m);
  });

  it('lists plugins without a running server from the config and the pre-load checks', async () => {
    const offline = await runCli(['plugin', 'list'], { cwd: dir, env: { ...env, PINCER_PORT: String(await freePort()) } });
    expect(offline.code).toBe(0);
    expect(offline.stdout).toMatch(/^Pincer is not running/);
    expect(offline.stdout).toMatch(/^commands\s+1\.0\.0\s+enabled\s+bundled\s+will start with Pincer/m);
  });
});
