import { describe, expect, it } from 'vitest';
import { callHostMethod, hostMethods, type PluginHostServices } from '../../src/plugins/host-api.js';

const unused = (): never => {
  throw new Error('not called');
};
const services: PluginHostServices = { stats: unused, enqueue: unused, models: { generate: unused, stream: unused, embed: unused }, channels: { call: unused } };
const table = hostMethods(services, () => [{ name: 'ping', description: 'pong' }], { maxTextLength: 100, maxMetadataDepth: 4, maxMetadataBytes: 1000 });
const io = { signal: new AbortController().signal, part: () => undefined };

describe('the host method table', () => {
  it('has one entry per method of the SDK\'s PincerApi', () => {
    expect(Object.keys(table).sort()).toEqual(['commands', 'enqueue', 'models.embed', 'models.generate', 'models.stream', 'stats']);
  });

  it('dispatches a known method', async () => {
    expect(await callHostMethod(table, 'commands', [], io)).toEqual([{ name: 'ping', description: 'pong' }]);
  });

  it('refuses an unknown method with PLUGIN_HOST_METHOD_UNKNOWN instead of answering with another', async () => {
    await expect(callHostMethod(table, 'deliver', [], io)).rejects.toMatchObject({ code: 'PLUGIN_HOST_METHOD_UNKNOWN' });
  });

  it('refuses an inherited name', async () => {
    await expect(callHostMethod(table, 'toString', [], io)).rejects.toMatchObject({ code: 'PLUGIN_HOST_METHOD_UNKNOWN' });
  });
});
