/**
 * Approvals and tool policy through a running Pincer: the ledger plugin's `ledger_approved`
 * (approval: always) and its other write tools, the model behind the OpenAI-compatible fake
 * LLM (`call <tool> <json>` makes it call a tool; it answers "tool said <result>").
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { FakeLlm } from '../support/fake-llm.js';
import { eventually, getJson, LogCapture, pluginProject, postJson, testConfig } from '../support/index.js';
import { runCli } from '../support/process.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';

interface LedgerRun {
  tool: string;
  key: string;
  entry: string;
}

interface Reply {
  text: string;
  data: Record<string, unknown>;
}

/** One Pincer with the ledger plugin and a `tools:` section; the ledger file counts every run. */
async function bot(tools: string, store?: { url: string; fake: FakeLlm; project: { root: string; cleanup: () => void } }) {
  const fake = store?.fake ?? (await FakeLlm.start());
  const project = store?.project ?? pluginProject(['ledger']);
  const ledger = path.join(project.root, 'ledger.jsonl');
  process.env.LEDGER_FILE = ledger;
  writeFileSync(path.join(project.root, 'pincer.config.yaml'), `models: { default: [ { provider: openai-compatible, base_url: "${fake.url}/v1", model: fake-model } ] }\ntools: ${tools}\n`);
  const env = { PINCER_PLUGINS_ROOT: project.root, PINCER_PLUGINS_ENABLED: 'commands,ledger', ...(store && { PINCER_STORE: store.url }) };
  const pincer = await Pincer.create({ config: testConfig(project.root, env), logDestination: new LogCapture(), env: {} });
  const url = await pincer.start();
  const runs = (): LedgerRun[] => (existsSync(ledger) ? readFileSync(ledger, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LedgerRun) : []);
  const ask = async (text: string, extra: Record<string, unknown> = {}) => {
    const res = await postJson(`${url}/v1/messages?wait=20`, { text, ...extra });
    expect(res.status).toBe(200);
    return res.body as { id: string; conversationId: string; reply: Reply };
  };
  /** The conversation's replies once it has `n` answered messages. */
  const replies = async (conversationId: string, n: number) => {
    const res = await eventually(
      () => getJson(`${url}/v1/conversations/${conversationId}`),
      (r) => (r.body.messages as Array<{ status: string }>).filter((m) => m.status === 'done').length >= n,
      20_000,
      `${n} answered messages`,
    );
    return res.body.messages as Array<{ id: string; text: string; status: string; reply: Reply | null; metadata: Record<string, unknown> | null }>;
  };
  const close = async () => {
    await pincer.close();
    if (store) return;
    await fake.close();
    project.cleanup();
  };
  return { fake, pincer, url, runs, ask, replies, close };
}

describe('approvals through a running Pincer', () => {
  let b: Awaited<ReturnType<typeof bot>>;
  beforeAll(async () => {
    b = await bot(`{ approvers: ["api:boss"], approval: [ledger_idempotent] }`);
  });
  afterAll(async () => {
    await b?.close();
  });

  it('asks instead of running, answers that it asked, and the approval runs exactly the recorded call once, replying again', async () => {
    const first = await b.ask('call ledger_approved {"entry":"refund A-1"}', { conversationId: 'shop-1' });
    const [approval] = first.reply.data['approvals'] as Array<{ id: string; tool: string }>;
    expect(approval).toMatchObject({ id: expect.stringMatching(/^ap_[0-9a-f]{12}$/), tool: 'ledger_approved' });
    expect(first.reply.data['steps']).toEqual([{ tool: 'ledger_approved', ok: false, ms: 0, error: 'approval_pending' }]);
    expect(first.reply.text).toContain(approval!.id);
    expect(b.runs()).toEqual([]);

    const listed = await getJson(`${b.url}/v1/admin/approvals?state=pending`);
    expect(listed.body.approvals).toEqual([expect.objectContaining({ id: approval!.id, state: 'pending', tool: 'ledger_approved', arguments: { entry: 'refund A-1' }, conversationId: 'shop-1', channel: 'api' })]);

    const decided = await postJson(`${b.url}/v1/admin/approvals/${approval!.id}`, { decision: 'approve', by: 'ops' });
    expect(decided.status).toBe(200);
    expect(decided.body.approval).toMatchObject({ state: 'approved', decidedBy: 'admin:ops', continuationId: expect.any(String) });

    const messages = await b.replies('shop-1', 2);
    const continuation = messages.find((m) => m.id === decided.body.approval.continuationId)!;
    expect(continuation.reply!.text).toContain('tool said');
    expect(continuation.reply!.text).toContain('refund A-1');
    expect(continuation.reply!.data['steps']).toEqual([{ tool: 'ledger_approved', ok: true, ms: expect.any(Number) }]);
    expect(b.runs()).toEqual([expect.objectContaining({ tool: 'ledger_approved', entry: 'refund A-1', key: `approval:${approval!.id}` })]);

    // Deciding again: the same decision is answered as it is, the other one refused; nothing runs again.
    expect((await postJson(`${b.url}/v1/admin/approvals/${approval!.id}`, { decision: 'approve' })).body.approval.continuationId).toBe(continuation.id);
    const conflict = await postJson(`${b.url}/v1/admin/approvals/${approval!.id}`, { decision: 'deny' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('TOOL_APPROVAL_DECIDED');
    expect(b.runs()).toHaveLength(1);
  });

  it('takes /deny from an approver named by channel identity, refuses others, and the continuation tells the model it was denied', async () => {
    const first = await b.ask('call ledger_idempotent {"entry":"wire 500"}', { conversationId: 'shop-2', sender: 'clerk' });
    const [approval] = first.reply.data['approvals'] as Array<{ id: string }>;
    const refused = await b.ask(`/deny ${approval!.id}`, { conversationId: 'desk', sender: 'clerk' });
    expect(refused.reply.text).toContain('may not decide');
    expect((await getJson(`${b.url}/v1/admin/approvals/${approval!.id}`)).body.approval.state).toBe('pending');

    const denied = await b.ask(`/deny ${approval!.id}`, { conversationId: 'desk', sender: 'boss' });
    expect(denied.reply.text).toContain(`Denied ${approval!.id}`);
    const messages = await b.replies('shop-2', 2);
    const last = messages.at(-1)!;
    expect(last.metadata?.['approval']).toEqual({ id: approval!.id });
    expect(last.reply!.data['steps']).toEqual([{ tool: 'ledger_idempotent', ok: false, ms: 0, error: 'approval_denied' }]);
    expect(last.reply!.text).toContain('approval_denied');
    expect(b.runs().filter((r) => r.entry === 'wire 500')).toEqual([]);
  });

  it('answers a client message that names an approval without being its continuation as a plain message', async () => {
    const first = await b.ask('call ledger_approved {"entry":"spoof"}', { conversationId: 'shop-3' });
    const [approval] = first.reply.data['approvals'] as Array<{ id: string }>;
    await postJson(`${b.url}/v1/admin/approvals/${approval!.id}`, { decision: 'approve' });
    await b.replies('shop-3', 2);
    const spoof = await b.ask('hello', { conversationId: 'shop-3', metadata: { approval: { id: approval!.id } } });
    expect(spoof.reply.data['steps']).toEqual([]);
    expect(b.runs().filter((r) => r.entry === 'spoof')).toHaveLength(1);
  });

  it('lists and decides approvals with pincer approvals', async () => {
    const first = await b.ask('call ledger_approved {"entry":"cli C-9"}', { conversationId: 'shop-4' });
    const [approval] = first.reply.data['approvals'] as Array<{ id: string }>;
    const env = { PINCER_URL: b.url, PINCER_TOKEN: '' };
    const listed = await runCli(['approvals', 'list'], { cwd: process.cwd(), env });
    expect(listed.code, listed.stderr + listed.stdout).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${approval!.id}\\s+pending\\s+ledger_approved\\s+\\{"entry":"cli C-9"\\}\\s+api:-`));
    const approved = await runCli(['approvals', 'approve', approval!.id, '--by', 'cli'], { cwd: process.cwd(), env });
    expect(approved.stdout).toContain(`${approval!.id} approved: ledger_approved`);
    await b.replies('shop-4', 2);
    expect(b.runs().filter((r) => r.entry === 'cli C-9')).toHaveLength(1);
    expect((await runCli(['approvals', 'list'], { cwd: process.cwd(), env })).stdout).not.toContain(approval!.id);
    const again = await runCli(['approvals', 'deny', approval!.id], { cwd: process.cwd(), env });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('approved already (by admin:cli)');
  });

  it('answers 404 for an unknown approval and 400 for a malformed id or decision', async () => {
    const missing = await postJson(`${b.url}/v1/admin/approvals/ap_000000000000`, { decision: 'approve' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TOOL_APPROVAL_NOT_FOUND');
    expect((await postJson(`${b.url}/v1/admin/approvals/nope`, { decision: 'approve' })).status).toBe(400);
    expect((await postJson(`${b.url}/v1/admin/approvals/ap_000000000000`, { decision: 'maybe' })).status).toBe(400);
  });
});

describe('approval expiry and tool policy through a running Pincer', () => {
  let b: Awaited<ReturnType<typeof bot>>;
  beforeAll(async () => {
    b = await bot(`{ approval_timeout: 1s, channels: { api: { deny: [ledger_write] } }, senders: { "api:vip": { allow: [ledger_approved] } } }`);
  });
  afterAll(async () => {
    await b?.close();
  });

  it('denies an approval nobody answered in time, and the continuation says so', async () => {
    const first = await b.ask('call ledger_approved {"entry":"late"}', { conversationId: 'exp-1' });
    const [approval] = first.reply.data['approvals'] as Array<{ id: string }>;
    const messages = await b.replies('exp-1', 2);
    expect(messages.at(-1)!.reply!.data['steps']).toEqual([{ tool: 'ledger_approved', ok: false, ms: 0, error: 'approval_denied' }]);
    expect(messages.at(-1)!.text).toContain('expired');
    expect((await getJson(`${b.url}/v1/admin/approvals/${approval!.id}`)).body.approval).toMatchObject({ state: 'expired', decidedBy: 'expiry' });
    expect(b.runs()).toEqual([]);
  });

  it('offers the model only the tools the channel and the sender may use', async () => {
    const offered = () => {
      const body = b.fake.requests.filter((r) => r.path.endsWith('/chat/completions')).at(-1)!.body as { tools?: Array<{ function: { name: string } }> };
      return (body.tools ?? []).map((t) => t.function.name).sort();
    };
    await b.ask('hello', { sender: 'anyone' });
    expect(offered()).toEqual(['ledger_approved', 'ledger_idempotent', 'memory_forget', 'memory_save', 'memory_search']);
    await b.ask('hello', { sender: 'vip' });
    expect(offered()).toEqual(['ledger_approved']);
    const denied = await b.ask('call ledger_write {"entry":"x"}', { sender: 'anyone' });
    expect(denied.reply.data['steps']).toEqual([{ tool: 'ledger_write', ok: false, ms: 0, error: 'unknown_tool' }]);
    expect(b.runs()).toEqual([]);
  });
});

describe('approvals across two nodes on PostgreSQL', () => {
  let schema: string;
  let fake: FakeLlm;
  let project: { root: string; cleanup: () => void };
  let a: Awaited<ReturnType<typeof bot>>;
  let b: Awaited<ReturnType<typeof bot>>;
  beforeAll(async () => {
    schema = await freshSchema();
    fake = await FakeLlm.start();
    project = pluginProject(['ledger']);
    const shared = { url: storeUrl(schema), fake, project };
    a = await bot('{}', shared);
    b = await bot('{}', shared);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await fake?.close();
    project?.cleanup();
    if (schema) await dropSchema(schema);
  });

  it('asks on one node, is approved on the other, and the call runs once with its reply in the conversation', async () => {
    const first = await a.ask('call ledger_approved {"entry":"cluster D-4"}', { conversationId: 'pg-1' });
    const [approval] = first.reply.data['approvals'] as Array<{ id: string }>;
    expect((await getJson(`${b.url}/v1/admin/approvals/${approval!.id}`)).body.approval.state).toBe('pending');
    // Both nodes decide at once: one wins, the other answers the same approval; one continuation.
    const [one, two] = await Promise.all([postJson(`${a.url}/v1/admin/approvals/${approval!.id}`, { decision: 'approve' }), postJson(`${b.url}/v1/admin/approvals/${approval!.id}`, { decision: 'approve' })]);
    expect([one.status, two.status]).toEqual([200, 200]);
    expect(one.body.approval.continuationId).toBe(two.body.approval.continuationId);
    const messages = await a.replies('pg-1', 2);
    expect(messages.find((m) => m.id === one.body.approval.continuationId)!.reply!.text).toContain('cluster D-4');
    expect(a.runs().filter((r) => r.entry === 'cluster D-4')).toEqual([expect.objectContaining({ key: `approval:${approval!.id}` })]);
  });
});
