import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PluginEvent } from '../../src/plugins/manager.js';
import { FIXTURE_PLUGINS, eventually, getJson, pluginProject, postJson, startPincer, tempDir, type RunningPincer } from '../support/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function bot(fixtures: string[], env: Record<string, string>): Promise<RunningPincer & { root: string }> {
  const project = pluginProject(fixtures);
  cleanups.push(project.cleanup);
  const running = await startPincer({ PINCER_PLUGINS_ROOT: project.root, ...env });
  cleanups.push(() => running.close());
  return { ...running, root: project.root };
}

/** Send a message and wait until it is done or dead. */
async function ask(url: string, text: string): Promise<any> {
  const sent = await postJson(`${url}/v1/messages?wait=20`, { text });
  expect([200, 202]).toContain(sent.status);
  return eventually(() => getJson(`${url}/v1/messages/${sent.body.id}`).then((r) => r.body), (m) => m.status === 'done' || m.status === 'dead', 20_000, `message "${text}" to finish`);
}

const plugin = async (url: string, name: string) => (await getJson(`${url}/v1/admin/plugins/${name}`)).body;

describe('plugin checks before any plugin code runs', () => {
  it('refuses each broken plugin with a coded error naming the field, and keeps serving with the good ones', async () => {
    const { url, logs } = await bot(['greeter', 'bad-manifest', 'future', 'strict-config', 'setup-throws', 'syntax-error'], {
      PINCER_PLUGINS_ENABLED: 'commands,greeter,shouter,pincer-plugin-bad-manifest,future,strict-config,setup-throws,syntax-error',
      PINCER_PLUGIN_STRICT_CONFIG_THRESHOLD: 'high',
    });
    const list = (await getJson(`${url}/v1/admin/plugins`)).body.plugins as any[];
    const byName = Object.fromEntries(list.map((p) => [p.name, p]));

    expect(byName['pincer-plugin-bad-manifest']).toMatchObject({ state: 'failed', error: { code: 'PLUGIN_MANIFEST_INVALID', field: 'pincer.plugins' } });
    expect(byName.future).toMatchObject({ state: 'incompatible', version: '9.0.0', error: { code: 'PLUGIN_ENGINE_MISMATCH', field: 'pincer.engine' } });
    expect(byName.future.reason).toMatch(/needs Pincer \^99\.0\.0, this is Pincer 1\./);
    expect(byName['strict-config']).toMatchObject({ state: 'failed', error: { code: 'PLUGIN_CONFIG_INVALID', field: 'config.threshold' } });
    expect(byName['strict-config'].error.message).toMatch(/"high" \(from PINCER_PLUGIN_STRICT_CONFIG_THRESHOLD\): must be number/);
    expect(byName['setup-throws']).toMatchObject({ state: 'failed', error: { code: 'PLUGIN_SETUP_FAILED' } });
    expect(byName['setup-throws'].reason).toMatch(/cannot reach the frobnicator/);
    expect(byName['syntax-error']).toMatchObject({ state: 'failed', error: { code: 'PLUGIN_LOAD_FAILED', field: 'pincer.plugins.syntax-error' } });
    expect(byName['syntax-error'].reason).toMatch(/load failed: SyntaxError: Unexpected token/);
    // The engine check happened before any code ran: future's setup throws if it ever runs.
    expect(logs.raw.join('\n')).not.toMatch(/must never run/);
    const failures = logs.lines.filter((l) => l.event === 'plugin.state' && (l.state === 'failed' || l.state === 'incompatible'));
    expect(failures.map((l) => l.plugin).sort()).toEqual(['future', 'pincer-plugin-bad-manifest', 'setup-throws', 'strict-config', 'syntax-error']);
    expect(failures.find((l) => l.plugin === 'strict-config')).toMatchObject({ code: 'PLUGIN_CONFIG_INVALID', field: 'config.threshold' });

    // The good plugins serve: analyzer, responder with streaming, commands, a service between plugins, routes.
    expect(byName.greeter).toMatchObject({ state: 'enabled', generation: 1, registered: { analyzers: ['words'], responders: ['greeter'], commands: ['greet'], services: ['greetings'] } });
    await eventually(() => plugin(url, 'shouter'), (p) => p.state === 'enabled', 10_000, 'shouter to start once greetings is provided');
    const hi = await ask(url, 'hi there you');
    expect(hi).toMatchObject({ status: 'done', analysis: { words: { count: 3 } }, reply: { text: 'Hello (v1, 3 words)', responder: 'greeter', data: { tag: 'v1' } } });
    expect((await ask(url, '/shout bob')).reply.text).toBe('HELLO, BOB');
    expect((await ask(url, '/greet Ann')).reply.text).toBe('Hello, Ann!');
    expect((await ask(url, '/half')).reply.text).toMatch(/Unknown command \/half/);
    expect((await ask(url, '/ping')).reply.text).toBe('pong');
    const help = (await ask(url, '/help')).reply.text;
    for (const c of ['/greet <name>', '/shout', '/ping', '/help']) expect(help).toContain(c);

    expect((await getJson(`${url}/v1/plugins/greeter/hello/ann?loud=1`)).body).toEqual({ greeting: 'Hello, ann', loud: true });
    const created = await postJson(`${url}/v1/plugins/greeter/echo`, { text: 'x' });
    expect(created).toMatchObject({ status: 201, body: { text: 'x' } });
    expect(await postJson(`${url}/v1/plugins/greeter/echo`, { nope: 1 })).toMatchObject({ status: 400, body: { error: { code: 'BAD_BODY' } } });
    expect(await getJson(`${url}/v1/plugins/greeter/missing`)).toMatchObject({ status: 404, body: { error: { code: 'ROUTE_NOT_FOUND' } } });
    expect(await postJson(`${url}/v1/plugins/greeter/hello/x`, {})).toMatchObject({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(await getJson(`${url}/v1/plugins/future/anything`)).toMatchObject({ status: 404, body: { error: { code: 'PLUGIN_NOT_RUNNING' } } });
  });
});

describe('fault isolation', () => {
  it('fails only the step of the message, stores the error, restarts a crashed thread, and disables a plugin that keeps failing', async () => {
    const { url, pincer, logs } = await bot(['faulty'], {
      PINCER_PLUGINS_ENABLED: 'faulty',
      PINCER_QUEUE_MAX_ATTEMPTS: '2',
      PINCER_QUEUE_RETRY_DELAY: '10ms',
      PINCER_WORKERS_STAGE_TIMEOUT: '300ms',
      PINCER_PLUGINS_MAX_FAILURES: '4',
    });
    const events: PluginEvent[] = [];
    pincer.plugins.onEvent((e) => events.push(e));

    const thrown = await ask(url, 'please throw');
    expect(thrown).toMatchObject({ status: 'dead', attempts: 2 });
    expect(thrown.lastError).toBe('analyzer faulty: plugin faulty: analyzer exploded');
    expect((await plugin(url, 'faulty')).consecutiveFailures).toBe(2);

    const fine = await ask(url, 'all good');
    expect(fine).toMatchObject({ status: 'done', analysis: { faulty: 'fine' } });
    expect((await plugin(url, 'faulty')).consecutiveFailures).toBe(0);

    const crashed = await ask(url, 'crash now');
    expect(crashed.status).toBe('dead');
    expect(crashed.lastError).toMatch(/^analyzer faulty: plugin faulty: its thread (died \(exited with code 3\)|is not running)$/);
    expect(logs.lines.some((l) => l.event === 'plugin.crashed' && l.plugin === 'faulty')).toBe(true);
    await eventually(() => plugin(url, 'faulty'), (p) => p.state === 'enabled' && p.generation >= 2 && p.consecutiveFailures <= 2, 10_000, 'the crashed plugin to restart');
    expect((await ask(url, 'fine again')).analysis).toEqual({ faulty: 'fine' });

    // A promise that never settles, then a busy loop that never yields: both time out.
    const hung = await ask(url, 'hang forever');
    expect(hung).toMatchObject({ status: 'dead' });
    expect(hung.lastError).toBe('analyzer faulty: analyzer faulty did not finish within 300 ms');
    const spun = await ask(url, 'spin forever');
    expect(spun.status).toBe('dead');
    const disabled = await plugin(url, 'faulty');
    expect(disabled).toMatchObject({ state: 'failed', error: { code: 'PLUGIN_AUTO_DISABLED' } });
    expect(disabled.reason).toMatch(/disabled after 4 consecutive failures/);
    expect(events).toContainEqual(expect.objectContaining({ type: 'auto_disabled', plugin: 'faulty', failures: 4 }));
    expect(logs.lines.some((l) => l.event === 'plugin.auto_disabled' && l.plugin === 'faulty')).toBe(true);

    // The bot keeps serving without it.
    const after = await ask(url, 'still there?');
    expect(after).toMatchObject({ status: 'done', analysis: {} });
    const health = await getJson(`${url}/ready`);
    expect(health.status).toBe(200);
  });
});

describe('misbehaviour outside calls', () => {
  it('refuses a clashing registration made after setup, and disables a plugin that keeps crashing on its own', async () => {
    const { url, logs } = await bot(['late-clash', 'crash-loop'], { PINCER_PLUGINS_ENABLED: 'late-clash,crash-loop', PINCER_PLUGINS_MAX_FAILURES: '3' });
    await eventually(() => logs.lines.find((l) => l.event === 'plugin.register_failed'), (l) => l !== undefined, 5_000, 'the clash to be logged');
    expect((await ask(url, '/late')).reply.text).toBe('still here');
    // JSON that happens to have a "status" key is data, not a response envelope.
    expect(await getJson(`${url}/v1/plugins/late-clash/weather`)).toMatchObject({ status: 200, body: { status: 'sunny', items: [1, 2] } });

    const crashed = await eventually(() => plugin(url, 'crash-loop'), (p) => p.state === 'failed', 15_000, 'the crash loop to be stopped');
    expect(crashed.error.code).toBe('PLUGIN_AUTO_DISABLED');
    expect(logs.lines.filter((l) => l.event === 'plugin.crashed' && l.plugin === 'crash-loop')).toHaveLength(2);
    expect(await plugin(url, 'late-clash')).toMatchObject({ state: 'enabled' });
  });
});

describe('admin API and persistence', () => {
  it('enables, disables, reloads with changed code and config, installs from a folder and an npm tarball, and answers bad requests with 4xx', async () => {
    const { url, root, dataDir } = await bot(['greeter'], { PINCER_PLUGINS_ENABLED: 'commands' });
    expect(await plugin(url, 'greeter')).toMatchObject({ state: 'disabled', reason: 'not in plugins.enabled' });
    expect((await ask(url, '/greet x')).reply.text).toMatch(/Unknown command/);

    expect((await postJson(`${url}/v1/admin/plugins/greeter/enable`, {})).body).toMatchObject({ state: 'enabled', generation: 1 });
    expect((await ask(url, '/greet x')).reply.text).toBe('Hello, x!');
    expect(JSON.parse(readFileSync(path.join(dataDir, 'plugins.json'), 'utf8'))).toEqual({ enabled: { greeter: true } });

    // Change code and config on disk; reload picks up both.
    const dir = path.join(root, 'plugins', 'greeter');
    writeFileSync(path.join(dir, 'index.js'), readFileSync(path.join(dir, 'index.js'), 'utf8').replace('`${ctx.config.greeting}, ${args || \'stranger\'}!`', '`${ctx.config.greeting} again, ${args}!`'));
    writeFileSync(path.join(dir, 'config.json'), readFileSync(path.join(dir, 'config.json'), 'utf8').replace('"default": "Hello"', '"default": "Howdy"'));
    expect((await postJson(`${url}/v1/admin/plugins/greeter/reload`, {})).body).toMatchObject({ state: 'enabled', generation: 2 });
    expect((await ask(url, '/greet x')).reply.text).toBe('Howdy again, x!');

    // A reload that fails leaves the running generation serving.
    writeFileSync(path.join(dir, 'index.js'), 'export const plugin = { setup() { throw new Error("broken edit"); } };');
    const failedReload = await postJson(`${url}/v1/admin/plugins/greeter/reload`, {});
    expect(failedReload).toMatchObject({ status: 422, body: { error: { code: 'PLUGIN_SETUP_FAILED' } } });
    expect(failedReload.body.error.message).toMatch(/broken edit/);
    expect(await plugin(url, 'greeter')).toMatchObject({ state: 'enabled', generation: 2 });
    expect((await ask(url, '/greet y')).reply.text).toBe('Howdy again, y!');

    expect((await postJson(`${url}/v1/admin/plugins/greeter/disable`, {})).body).toMatchObject({ state: 'disabled', generation: 0 });
    expect((await ask(url, '/greet x')).reply.text).toMatch(/Unknown command/);
    expect(await postJson(`${url}/v1/admin/plugins/greeter/reload`, {})).toMatchObject({ status: 409, body: { error: { code: 'PLUGIN_NOT_ENABLED' } } });
    expect(JSON.parse(readFileSync(path.join(dataDir, 'plugins.json'), 'utf8'))).toEqual({ enabled: { greeter: false } });

    // Bad requests.
    expect(await postJson(`${url}/v1/admin/plugins/nope/enable`, {})).toMatchObject({ status: 404, body: { error: { code: 'PLUGIN_NOT_FOUND' } } });
    expect(await postJson(`${url}/v1/admin/plugins/Bad%20Name/enable`, {})).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(await postJson(`${url}/v1/admin/plugins/install`, {})).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(await postJson(`${url}/v1/admin/plugins/install`, { source: FIXTURE_PLUGINS })).toMatchObject({ status: 422, body: { error: { code: 'PLUGIN_INSTALL_INVALID' } } });
    const badManifest = await postJson(`${url}/v1/admin/plugins/install`, { source: path.join(FIXTURE_PLUGINS, 'bad-manifest') });
    expect(badManifest).toMatchObject({ status: 422, body: { error: { code: 'PLUGIN_MANIFEST_INVALID' } } });
    expect(existsSync(path.join(root, 'plugins', 'pincer-plugin-bad-manifest'))).toBe(false);
    // A package name that would make the target folder plugins/ itself is refused.
    const dotDir = tempDir('pincer-dot-');
    cleanups.push(dotDir.cleanup);
    writeFileSync(path.join(dotDir.dir, 'package.json'), JSON.stringify({ name: '.', version: '1.0.0', pincer: { engine: '*', plugins: { dot: './index.js' } } }));
    expect(await postJson(`${url}/v1/admin/plugins/install`, { source: dotDir.dir })).toMatchObject({ status: 422, body: { error: { code: 'PLUGIN_INSTALL_INVALID' } } });
    expect(existsSync(path.join(root, 'plugins', 'greeter'))).toBe(true);

    // Install from a folder.
    const fromFolder = await postJson(`${url}/v1/admin/plugins/install`, { source: path.join(FIXTURE_PLUGINS, 'strict-config') });
    expect(fromFolder.status).toBe(200);
    expect(fromFolder.body.installed).toMatchObject({ kind: 'folder', packageName: 'pincer-plugin-strict-config' });
    expect(fromFolder.body.plugins).toEqual([expect.objectContaining({ name: 'strict-config', state: 'enabled', source: 'plugins' })]);
    expect((await ask(url, '/threshold')).reply.text).toBe('0.5');

    // Install an npm tarball (what `npm pack` or a registry gives) into node_modules.
    const packDir = tempDir('pincer-pack-');
    cleanups.push(packDir.cleanup);
    const tarball = execFileSync('npm', ['pack', path.join(FIXTURE_PLUGINS, 'faulty'), '--pack-destination', packDir.dir], { encoding: 'utf8' }).trim().split('\n').pop() as string;
    const fromNpm = await postJson(`${url}/v1/admin/plugins/install`, { source: path.join(packDir.dir, tarball) });
    expect(fromNpm.status).toBe(200);
    expect(fromNpm.body.installed).toMatchObject({ kind: 'npm', packageName: 'pincer-plugin-faulty' });
    expect(fromNpm.body.plugins).toEqual([expect.objectContaining({ name: 'faulty', state: 'enabled', source: 'node_modules' })]);
    expect((await ask(url, 'anything')).analysis).toEqual({ faulty: 'fine' });
    const badSpec = await postJson(`${url}/v1/admin/plugins/install`, { source: path.join(packDir.dir, 'missing.tgz') });
    expect(badSpec).toMatchObject({ status: 422, body: { error: { code: 'PLUGIN_INSTALL_FAILED' } } });
  });

  it('keeps run-time enable/disable decisions across a restart', async () => {
    const project = pluginProject(['greeter']);
    cleanups.push(project.cleanup);
    const first = await startPincer({ PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'commands,greeter' });
    await postJson(`${first.url}/v1/admin/plugins/commands/disable`, {});
    await first.pincer.close();
    const { Pincer } = await import('../../src/pincer.js');
    const { testConfig, LogCapture } = await import('../support/index.js');
    const second = await Pincer.create({ config: testConfig(first.dataDir, { PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'commands,greeter' }), logDestination: new LogCapture() });
    cleanups.push(async () => {
      await second.close();
      await first.close();
    });
    const url = await second.start();
    expect(await plugin(url, 'commands')).toMatchObject({ state: 'disabled', reason: 'disabled by an operator' });
    expect(await plugin(url, 'greeter')).toMatchObject({ state: 'enabled' });
  });
});
