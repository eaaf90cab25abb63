import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, getJson, pluginProject, postJson, startPincer } from '../support/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function setTag(root: string, tag: string): void {
  const file = path.join(root, 'plugins', 'greeter', 'config.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/"generation_tag": \{ "type": "string", "default": "[^"]*"/, `"generation_tag": { "type": "string", "default": "${tag}"`));
}

describe('hot loading', () => {
  it('finishes in-flight messages on the old generation and sends the next ones to the new one', async () => {
    const project = pluginProject(['greeter']);
    cleanups.push(project.cleanup);
    const { url, close } = await startPincer({ PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'greeter' });
    cleanups.push(close);

    const slow = await postJson(`${url}/v1/messages`, { text: 'hi slow one' });
    await eventually(() => getJson(`${url}/v1/messages/${slow.body.id}`).then((r) => r.body.status), (s) => s === 'processing', 5_000, 'the slow message to start');
    setTag(project.root, 'v2');
    const reloaded = await postJson(`${url}/v1/admin/plugins/greeter/reload`, {});
    expect(reloaded.body).toMatchObject({ state: 'enabled', generation: 2 });
    const next = await postJson(`${url}/v1/messages?wait=10`, { text: 'hi next' });
    expect(next.body.reply.data).toEqual({ tag: 'v2' });
    const old = await eventually(() => getJson(`${url}/v1/messages/${slow.body.id}`).then((r) => r.body), (m) => m.status === 'done', 5_000, 'the slow message to finish');
    // It started on generation 1 and finished there, though generation 2 took over meanwhile.
    expect(old.reply.data).toEqual({ tag: 'v1' });
    expect(old.attempts).toBe(1);
  });

  it('loses and doubles no message while the plugin is reloaded, disabled and enabled under steady load', async () => {
    const project = pluginProject(['greeter']);
    cleanups.push(project.cleanup);
    const { url, pincer, close } = await startPincer({ PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'greeter', PINCER_CONCURRENCY: '16' });
    cleanups.push(close);

    const ids: string[] = [];
    let sending = true;
    const senders = Array.from({ length: 4 }, async (_, lane) => {
      for (let i = 0; sending; i++) {
        const res = await postJson(`${url}/v1/messages`, { text: `hi ${lane}-${i}`, conversationId: `lane-${lane}` });
        expect(res.status).toBe(202);
        ids.push(res.body.id);
      }
    });

    const operations: string[] = [];
    for (let round = 1; round <= 6; round++) {
      await eventually(() => ids.length, (n) => n >= round * 60, 20_000, 'load to flow');
      setTag(project.root, `v${round + 1}`);
      if (round === 3) {
        await postJson(`${url}/v1/admin/plugins/greeter/disable`, {});
        await eventually(() => ids.length, (n) => n >= round * 60 + 30, 20_000, 'load while disabled');
        expect((await postJson(`${url}/v1/admin/plugins/greeter/enable`, {})).body.state).toBe('enabled');
        operations.push('disable', 'enable');
      } else {
        expect((await postJson(`${url}/v1/admin/plugins/greeter/reload`, {})).body.state).toBe('enabled');
        operations.push('reload');
      }
    }
    await eventually(() => ids.length, (n) => n >= 420, 20_000, 'load after the last reload');
    sending = false;
    await Promise.all(senders);

    const messages = await eventually(
      () => Promise.all(ids.map((id) => getJson(`${url}/v1/messages/${id}`).then((r) => r.body))),
      (all) => all.every((m) => m.status === 'done'),
      30_000,
      'every message to be answered',
    );
    expect(new Set(ids).size).toBe(ids.length);
    // Handled once each: one attempt, one reply; none failed, none was retried.
    expect(messages.filter((m) => m.attempts !== 1 || m.lastError !== null)).toEqual([]);
    const stats = await pincer.store.admin.stats();
    expect(stats.completed).toBe(ids.length);
    expect(stats.failed).toBe(0);
    // Replies came from every generation, and per conversation never from an older one after a newer one.
    const tags = new Set(messages.map((m) => (m.reply.responder === 'greeter' ? m.reply.data.tag : 'none')));
    expect(tags.size).toBeGreaterThanOrEqual(5);
    for (let lane = 0; lane < 4; lane++) {
      const seq = messages.filter((m) => m.conversationId === `lane-${lane}` && m.reply.responder === 'greeter').map((m) => Number(String(m.reply.data.tag).slice(1)));
      expect(seq).toEqual([...seq].sort((a, b) => a - b));
    }
    expect(operations).toEqual(['reload', 'reload', 'disable', 'enable', 'reload', 'reload', 'reload']);
    expect((await getJson(`${url}/v1/admin/plugins/greeter`)).body.generation).toBe(7);
  });
});
