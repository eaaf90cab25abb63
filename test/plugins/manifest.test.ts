import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../../src/plugins/manifest.js';
import { pluginHarness, type PluginHarness } from './harness.js';

let h: PluginHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function problemOf(field: unknown): unknown {
  const dir = mkdtempSync(path.join(tmpdir(), 'pincer-manifest-'));
  try {
    writeFileSync(path.join(dir, 'index.js'), '');
    parseManifest(dir, field);
    return undefined;
  } catch (err) {
    return err instanceof ManifestError ? err.problem : err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('inject and provides in the manifest', () => {
  it('reads them from the object form of a plugin entry', () => {
    const manifest = parseManifest('/pkg', { engine: '^1.0.0', plugins: { weather: { entry: './index.js#plugin', inject: ['geocoder'], provides: ['forecast'] } } });
    expect(manifest.entries[0]).toMatchObject({ name: 'weather', modulePath: '/pkg/index.js', exportName: 'plugin', inject: ['geocoder'], provides: ['forecast'] });
  });

  it('means no services for the string form', () => {
    expect(parseManifest('/pkg', { engine: '^1.0.0', plugins: { weather: './index.js' } }).entries[0]).toMatchObject({ inject: [], provides: [] });
  });

  it('refuses a service list that is not a list of names, naming the field', () => {
    expect(problemOf({ engine: '^1.0.0', plugins: { weather: { entry: './index.js', inject: 'geocoder' } } })).toMatchObject({ code: 'PLUGIN_MANIFEST_INVALID', field: 'pincer.plugins.weather.inject' });
  });

  it('refuses an unknown key in a plugin entry', () => {
    expect(problemOf({ engine: '^1.0.0', plugins: { weather: { entry: './index.js', needs: [] } } })).toMatchObject({ code: 'PLUGIN_MANIFEST_INVALID', field: 'pincer.plugins.weather.needs' });
  });

  it('shows them for a plugin that never started', async () => {
    h = await pluginHarness(['greeter'], { PINCER_PLUGINS_ENABLED: 'greeter' });
    expect(h.manager.get('shouter')).toMatchObject({ state: 'disabled', wanted: false, generation: 0, inject: ['greetings'], provides: [] });
  });

  it('starts a provider before the plugin that injects its service, so the latter never waits', async () => {
    h = await pluginHarness(['greeter'], { PINCER_PLUGINS_ENABLED: 'shouter,greeter' });
    expect(h.manager.get('shouter')).toMatchObject({ state: 'enabled', generation: 1 });
    expect(h.logs.lines.filter((l) => l.event === 'plugin.state' && l.plugin === 'shouter').map((l) => l.state)).toEqual(['starting', 'enabled']);
  });

  it('refuses a plugin whose code declares other services than its manifest', async () => {
    h = await pluginHarness(['mismatch'], { PINCER_PLUGINS_ENABLED: 'mismatch' });
    expect(h.manager.get('mismatch')).toMatchObject({ state: 'failed', error: { code: 'PLUGIN_MANIFEST_MISMATCH', field: 'pincer.plugins.mismatch.provides' } });
  });
});
