import { describe, expect, it } from 'vitest';
import type { JsonObject, PluginContext, ToolSpec } from 'pincer/plugin';
import { plugin } from '../index.js';

/** The plugin's tools as its setup registers them, with only what setup uses of the context. */
function tools(config: JsonObject = {}): Map<string, ToolSpec> {
  const registered = new Map<string, ToolSpec>();
  const ctx = { config, tool: (spec: ToolSpec) => (registered.set(spec.name, spec), () => {}), onDispose: () => {} };
  void plugin.setup(ctx as unknown as PluginContext);
  return registered;
}

describe('current_time and the sender\'s time zone', () => {
  const signal = new AbortController().signal;
  const currentTime = (config?: JsonObject) => tools(config).get('current_time') as ToolSpec;

  it('answers in the sender\'s zone when the model names none', async () => {
    expect(await currentTime({ time_zone: 'Europe/Berlin' }).execute({}, { signal, senderTimeZone: 'Asia/Tokyo' })).toMatchObject({ timeZone: 'Asia/Tokyo', iso: expect.stringMatching(/\+09:00$/) });
  });

  it('prefers the zone the model names, and falls back to the plugin\'s without a sender zone', async () => {
    const tool = currentTime({ time_zone: 'Europe/Berlin' });
    expect(await tool.execute({ time_zone: 'America/New_York' }, { signal, senderTimeZone: 'Asia/Tokyo' })).toMatchObject({ timeZone: 'America/New_York' });
    expect(await tool.execute({ time_zone: 'lisbon' }, { signal })).toMatchObject({ timeZone: 'Europe/Lisbon' });
    expect(await tool.execute({}, { signal })).toMatchObject({ timeZone: 'Europe/Berlin' });
    expect(() => tool.execute({ time_zone: 'Mars/Olympus' }, { signal })).toThrow(/not an IANA time zone/);
  });

  it('declares examples the built-in model can route by', () => {
    expect(currentTime().examples).toEqual(expect.arrayContaining(['what time is it', 'what time is it in {time_zone}']));
  });
});
