import { cpSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE_PLUGINS, getJson, pluginProject, postJson, startPincer } from '../support/index.js';
import { pluginHarness, type PluginHarness } from './harness.js';

let h: PluginHarness | undefined;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A package that appears on disk while Pincer runs. */
function addLater(root: string, fixture: string, under: 'plugins' | 'node_modules'): void {
  cpSync(path.join(FIXTURE_PLUGINS, fixture), path.join(root, under, `pincer-plugin-${fixture}`), { recursive: true });
}

describe('the plugin list is a cache', () => {
  it('does not read the disk on list(): a package added after start is not listed', async () => {
    h = await pluginHarness(['greeter'], { PINCER_PLUGINS_ENABLED: 'greeter' });
    addLater(h.root, 'faulty', 'node_modules');
    for (let i = 0; i < 100; i++) expect(h.manager.list().map((p) => p.name)).toEqual(['greeter', 'shouter']);
  });

  it('sees a package added after start once refreshed', async () => {
    h = await pluginHarness(['greeter'], { PINCER_PLUGINS_ENABLED: 'greeter' });
    addLater(h.root, 'faulty', 'node_modules');
    expect(h.manager.refresh().map((p) => p.name)).toEqual(['faulty', 'greeter', 'shouter']);
    expect(h.manager.list().map((p) => p.name)).toEqual(['faulty', 'greeter', 'shouter']);
  });

  it('rescans for a name it does not know', async () => {
    h = await pluginHarness(['greeter'], { PINCER_PLUGINS_ENABLED: 'greeter' });
    addLater(h.root, 'faulty', 'plugins');
    expect(h.manager.get('faulty')).toMatchObject({ name: 'faulty', state: 'disabled' });
  });

  it('rescans on POST /v1/admin/plugins/rescan', async () => {
    const project = pluginProject(['greeter']);
    cleanups.push(project.cleanup);
    const running = await startPincer({ PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'greeter' });
    cleanups.push(() => running.close());
    addLater(project.root, 'faulty', 'node_modules');
    const names = (body: { plugins: Array<{ name: string }> }) => body.plugins.map((p) => p.name);
    expect(names((await getJson(`${running.url}/v1/admin/plugins`)).body)).not.toContain('faulty');
    const rescanned = await postJson(`${running.url}/v1/admin/plugins/rescan`, {});
    expect(rescanned.status).toBe(200);
    expect(names(rescanned.body)).toContain('faulty');
  });
});
