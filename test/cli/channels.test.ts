import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookHeaders } from '../../src/channels/kit/standard-webhooks.js';
import { WebhookReceiver } from '../support/fakes/webhook-receiver.js';
import { eventually, tempDir } from '../support/index.js';
import { freePort, runCli, spawnPincer, type PincerProcess } from '../support/process.js';

const INBOUND = 'whsec_' + Buffer.from('cli-inbound-secret-0123456789').toString('base64');
const CALLBACK = 'whsec_' + Buffer.from('cli-callback-secret-0123456789').toString('base64');

describe('pincer channels and pincer pairing against a running server', () => {
  const { dir, cleanup } = tempDir('pincer-cli-channels-');
  let server: PincerProcess;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start({ secret: CALLBACK });
    const config = { plugins: { enabled: ['commands'] }, channels: { webhook: { accounts: { default: { secret: INBOUND, callback_url: receiver.url, callback_secret: CALLBACK, dm_policy: 'pairing' } } } } };
    writeFileSync(path.join(dir, 'pincer.config.json'), JSON.stringify(config));
    env = { PINCER_DATA_DIR: dir, PINCER_PORT: String(await freePort()), PINCER_LOG_LEVEL: 'warn', PINCER_URL: '', PINCER_TOKEN: '' };
    server = await spawnPincer({ ...env, PINCER_LOG_LEVEL: 'info' }, dir);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await receiver.close();
    cleanup();
  });

  async function say(id: string, text: string): Promise<number> {
    const body = JSON.stringify({ text, sender: { id: 'ann' } });
    const res = await fetch(`${server.url}/v1/channels/webhook/default/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...webhookHeaders(INBOUND, id, body) }, body });
    return res.status;
  }

  it('lists accounts, pairing codes and deliveries; approves a code; names a missing delivery', async () => {
    const listed = await runCli(['channels', 'list'], { cwd: dir, env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/webhook\s+default\s+webhook\s+webhook/);

    expect(await say('msg_cli_1', 'hello?')).toBe(202);
    await receiver.until((r) => r.accepted.length === 1, 10_000);
    const pairing = await runCli(['pairing', 'list'], { cwd: dir, env });
    const code = /([A-HJ-NP-Z2-9]{8})/.exec(pairing.stdout.split('\n').find((l) => l.includes('ann')) ?? '')?.[1];
    expect(code, pairing.stdout).toBeDefined();
    expect(String(receiver.accepted[0]?.body.text)).toContain(code as string);

    const approved = await runCli(['pairing', 'approve', 'webhook', (code as string).toLowerCase()], { cwd: dir, env });
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('approved: webhook/default sender ann');
    expect((await runCli(['pairing', 'list'], { cwd: dir, env })).stdout).toContain('no pairing requests');

    expect(await say('msg_cli_2', '/echo paired')).toBe(202);
    await receiver.until((r) => r.accepted.some((c) => c.body.text === 'paired'), 10_000);
    const sent = await eventually(() => runCli(['--json', 'channels', 'deliveries', '--state', 'sent'], { cwd: dir, env }), (r) => (JSON.parse(r.stdout) as { deliveries: unknown[] }).deliveries.length === 2, 10_000, 'two sent deliveries');
    expect((JSON.parse(sent.stdout) as { deliveries: Array<{ channel: string; lane: string }> }).deliveries.every((d) => d.channel === 'webhook' && d.lane === 'webhook:default:ann')).toBe(true);
    // The signed webhook reports no statuses: no receipt, shown as "-".
    expect((JSON.parse(sent.stdout) as { deliveries: Array<{ receipt: unknown }> }).deliveries.map((d) => d.receipt)).toEqual([null, null]);
    const table = (await runCli(['channels', 'deliveries', '--state', 'sent'], { cwd: dir, env })).stdout.split('\n');
    expect(table[0]).toMatch(/\bCREATED\s+RECEIPT\s+ERROR\b/);

    // Revoked, the sender must pair again: the next message gets a new code, not an answer.
    const revoked = await runCli(['pairing', 'revoke', 'webhook', 'ann'], { cwd: dir, env });
    expect(revoked.stdout).toContain('revoked: webhook/default sender ann');
    expect(await say('msg_cli_3', '/echo again')).toBe(202);
    await receiver.until((r) => r.accepted.length === 3, 10_000);
    expect(String(receiver.accepted[2]?.body.text)).toMatch(/pairing code is \*\*[A-HJ-NP-Z2-9]{8}\*\*/);
    const twice = await runCli(['pairing', 'revoke', 'webhook', 'ann'], { cwd: dir, env });
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain('was not approved');

    const missing = await runCli(['channels', 'deliveries', '--retry', 'no-such-delivery'], { cwd: dir, env });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no delivery no-such-delivery');
    const badState = await runCli(['channels', 'deliveries', '--state', 'lost'], { cwd: dir, env });
    expect(badState.code).not.toBe(0);
    expect(badState.stderr).toContain('--state must be one of');
  });
});
