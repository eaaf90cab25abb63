import { afterEach, describe, expect, it } from 'vitest';
import type { HostModelRequest } from '../../src/plugins/host-api.js';
import type { ModelStreamPart } from '../../src/plugins/sdk.js';
import { pluginHarness, run, type PluginHarness } from './harness.js';

let h: PluginHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Resolves with the abort reason of a host call's signal. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

describe('host calls end with whoever made them', () => {
  it('aborts the model stream when the plugin stops reading it', async () => {
    let stopped: Promise<unknown> | undefined;
    async function* endless(request: HostModelRequest): AsyncIterable<ModelStreamPart> {
      stopped = aborted(request.signal);
      yield { type: 'text-delta', delta: 'first' };
      await stopped;
    }
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'host-user' }, { stream: endless });
    expect(await run(h.tool('stream_first'), { text: 'x' })).toEqual({ type: 'text-delta', delta: 'first' });
    expect(await stopped).toMatchObject({ code: 'PLUGIN_CALL_ABORTED' });
  });

  it('aborts a model call when the plugin call that made it is aborted', async () => {
    let stopped: Promise<unknown> | undefined;
    const hanging = (request: HostModelRequest) => {
      stopped = aborted(request.signal);
      return new Promise<never>(() => undefined);
    };
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'waiter' }, { generate: hanging });
    const controller = new AbortController();
    const call = h.tool('generate_unbounded').execute({}, { signal: controller.signal });
    await expect.poll(() => stopped !== undefined).toBe(true);
    controller.abort(new Error('the message was cancelled'));
    await expect(call).rejects.toThrow('the message was cancelled');
    expect(await stopped).toMatchObject({ code: 'PLUGIN_CALL_ABORTED' });
  });

  it('aborts a model call when the plugin\'s thread ends', async () => {
    let stopped: Promise<unknown> | undefined;
    const hanging = (request: HostModelRequest) => {
      stopped = aborted(request.signal);
      return new Promise<never>(() => undefined);
    };
    h = await pluginHarness(['host-user'], { PINCER_PLUGINS_ENABLED: 'waiter' }, { generate: hanging });
    const call = h.tool('generate_unbounded').execute({}, { signal: new AbortController().signal });
    await expect.poll(() => stopped !== undefined).toBe(true);
    // Shutdown ends the thread without waiting for its calls to drain.
    await h.manager.close();
    await expect(call).rejects.toMatchObject({ code: 'PLUGIN_CRASHED' });
    expect(await stopped).toMatchObject({ code: 'PLUGIN_CRASHED' });
  });
});
