/**
 * Channels across nodes on one PostgreSQL: a webhook reaches whichever node the proxy picks
 * and the reply goes out once, from the node with workers; with polling, exactly one node
 * polls the token while the others stand by.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/json.js';
import { startChannelPincer } from '../support/channels.js';
import { TelegramFake } from '../support/fakes/telegram.js';
import { eventually, tempDir, type RunningPincer } from '../support/index.js';
import { startNginx, writeShippedNginxConfig } from '../support/nginx.js';
import { freePort } from '../support/process.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';

const fake = new TelegramFake();
let schema = '';
const nodes: RunningPincer[] = [];
const children: ChildProcess[] = [];
const temp = tempDir('pincer-channel-cluster-');

beforeAll(async () => {
  await fake.start();
});
afterAll(async () => {
  await fake.stop();
  temp.cleanup();
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
  for (const node of nodes.splice(0)) await node.close();
  if (schema) await dropSchema(schema);
  schema = '';
});

async function cluster(account: JsonObject): Promise<[RunningPincer, RunningPincer]> {
  schema = await freshSchema();
  const channels = { telegram: { api_root: fake.url, accounts: { default: { token: fake.token, poll_timeout: 1, dm_policy: 'open', ...account } } } };
  // An API-only node and a node with workers, as behind a load balancer.
  const api = await startChannelPincer({ channels, env: { PINCER_STORE: storeUrl(schema), PINCER_WORKERS_ENABLED: 'false' } });
  nodes.push(api);
  const worker = await startChannelPincer({ channels, env: { PINCER_STORE: storeUrl(schema) } });
  nodes.push(worker);
  return [api, worker];
}

let nextUser = 9100;

describe('channels on two nodes over PostgreSQL', () => {
  it('takes a Telegram webhook on either node, direct or through the shipped nginx, and answers each update once', async () => {
    const [api, worker] = await cluster({ transport: 'webhook', webhook_secret: 'cluster_secret' });
    const upstreamFile = path.join(temp.dir, 'upstream.conf');
    writeFileSync(upstreamFile, `upstream pincer {\n  least_conn;\n  server ${new URL(api.url).host};\n  server ${new URL(worker.url).host};\n  keepalive 32;\n}\n`);
    const nginxPort = await freePort();
    const nginxDir = path.join(temp.dir, 'nginx');
    const nginx = await startNginx(nginxDir, writeShippedNginxConfig({ prefix: nginxDir, upstreamFile, port: nginxPort }), nginxPort);
    children.push(nginx.child);
    const post = (node: RunningPincer | string, update: unknown) =>
      fetch(`${typeof node === 'string' ? node : node.url}/v1/channels/telegram/default/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'cluster_secret' }, body: JSON.stringify(update) });
    const users = [fake.user({ id: nextUser++, first_name: 'Ann' }), fake.user({ id: nextUser++, first_name: 'Bo' })];
    for (const [i, node] of [api, worker].entries()) {
      const user = users[i]!;
      const update = { update_id: 880_000 + i, message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: fake.privateChat(user), from: user, text: `via node ${i}` } };
      expect((await post(node, update)).status).toBe(200);
      // Telegram retries a webhook it thinks failed: the same update on the other node is the same message.
      expect((await post(i === 0 ? worker : api, update)).status).toBe(200);
    }
    for (const [i, user] of users.entries()) {
      await eventually(() => fake.sent(user.id), (m) => m.length === 1, 20_000, `the answer to node ${i}`);
      expect(fake.sent(user.id).map((m) => m.text)).toEqual([`re: via node ${i}`]);
    }
    const sends = fake.calls.filter((c) => c.method === 'sendMessage' && users.some((u) => Number(c.params.chat_id) === u.id));
    expect(sends).toHaveLength(2);

    // Through the proxy: ten updates from one chat, each sent twice (Telegram's retries), land
    // on both nodes and are answered once each, in order.
    const user = fake.user({ id: nextUser++, first_name: 'Di' });
    for (let n = 0; n < 10; n++) {
      const update = { update_id: 881_000 + n, message: { message_id: 10 + n, date: Math.floor(Date.now() / 1000), chat: fake.privateChat(user), from: user, text: `proxied ${n}` } };
      expect((await post(nginx.base, update)).status).toBe(200);
      expect((await post(nginx.base, update)).status).toBe(200);
    }
    await eventually(() => fake.sent(user.id), (m) => m.length === 10, 20_000, 'ten answers through nginx');
    expect(fake.sent(user.id).map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, n) => `re: proxied ${n}`));
  });

  it('polls the token from exactly one node; the other stands by', async () => {
    const [api, worker] = await cluster({});
    const states = () => [api, worker].map((n) => n.pincer.channels.list()[0]);
    await eventually(states, (s) => s.filter((a) => a?.leader).length === 1 && s.some((a) => a?.state === 'standby'), 20_000, 'one poller and one standby');
    const user = fake.user({ id: nextUser++, first_name: 'Cy' });
    fake.pushMessage({ chat: fake.privateChat(user), from: user, text: 'one poller' });
    await eventually(() => fake.sent(user.id), (m) => m.length === 1, 20_000, 'the answer');
    expect(fake.calls.filter((c) => c.method === 'getUpdates' && c.status === 409)).toEqual([]);
  });
});
