import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PincerError, StageTimeoutError } from '../../src/errors.js';
import type { Analyzer } from '../../src/pipeline/types.js';
import { classifyFailure } from '../../src/plugins/failure-policy.js';
import type { MessageRecord } from '../../src/store/types.js';
import { pluginHarness, type PluginHarness } from './harness.js';

describe('classifyFailure', () => {
  it('calls a coded shutdown nobody\'s fault, whatever its message says', () => {
    expect(classifyFailure('analyze', new PincerError('WORKER_SHUTDOWN', 'stop'))).toBe('nobody');
  });

  it('blames the plugin for an uncoded error that merely mentions shutting down', () => {
    expect(classifyFailure('analyze', new Error('the worker is shutting down'))).toBe('plugin');
  });

  it('counts a crash apart, once per thread', () => {
    expect(classifyFailure('respond', new PincerError('PLUGIN_CRASHED', 'died'))).toBe('crash');
  });

  it('treats a failed route call as caused by its input', () => {
    expect(classifyFailure('route', new PincerError('PLUGIN_CALL_FAILED', 'bad request body'))).toBe('input');
  });

  it('blames the plugin for a route call it never answered', () => {
    expect(classifyFailure('route', new PincerError('PLUGIN_TIMEOUT', 'no answer'))).toBe('plugin');
  });

  it('blames the plugin for a pipeline stage timing out', () => {
    expect(classifyFailure('analyze', new StageTimeoutError('analyzer x', 10))).toBe('plugin');
  });
});

describe('failure accounting of a running plugin', () => {
  let h: PluginHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const message = { id: 'm-1', conversationId: 'c', text: 'hang forever', sender: null, channel: 'api', priority: 'normal', metadata: null, attempts: 1 } as unknown as MessageRecord;
  /** Run the faulty analyzer on a message that hangs, then abort it with `reason`. */
  async function abortHanging(analyzer: Analyzer, reason: Error): Promise<unknown> {
    const controller = new AbortController();
    const running = Promise.resolve(analyzer.analyze({ message, analysis: {}, signal: controller.signal, log: pino({ level: 'silent' }) }));
    controller.abort(reason);
    return running.catch((err: unknown) => err);
  }
  const faulty = (hh: PluginHarness) => hh.registry.analyzers.find((a) => a.name === 'faulty') as Analyzer;

  it('does not count a WORKER_SHUTDOWN abort toward auto-disable', async () => {
    h = await pluginHarness(['faulty'], { PINCER_PLUGINS_ENABLED: 'faulty', PINCER_PLUGINS_MAX_FAILURES: '1' });
    expect(await abortHanging(faulty(h), new PincerError('WORKER_SHUTDOWN', 'stopping'))).toMatchObject({ code: 'WORKER_SHUTDOWN' });
    expect(h.manager.get('faulty')).toMatchObject({ state: 'enabled', failures: 0, consecutiveFailures: 0 });
  });

  it('counts a stage timeout, and disables the plugin at the limit', async () => {
    h = await pluginHarness(['faulty'], { PINCER_PLUGINS_ENABLED: 'faulty', PINCER_PLUGINS_MAX_FAILURES: '1' });
    await abortHanging(faulty(h), new StageTimeoutError('analyzer faulty', 10));
    expect(h.manager.get('faulty')).toMatchObject({ state: 'failed', failures: 1, error: { code: 'PLUGIN_AUTO_DISABLED' } });
  });
});
