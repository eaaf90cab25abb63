/**
 * The delivery worker over a real (in-memory) SQLite outbox, with adapters written here: the
 * decisions that do not depend on any one platform (parts and progress, rate waits, the
 * reconcile protocol, edits of previews). The channels' own behaviour is tested end to end
 * against their fakes.
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAccounts } from '../../../src/channels/accounts.js';
import { ChannelMetrics } from '../../../src/channels/metrics.js';
import { DeliveryWorker } from '../../../src/channels/outbox/delivery-worker.js';
import { RateScheduler } from '../../../src/channels/outbox/rate-scheduler.js';
import { channelsSchema } from '../../../src/config/channels.js';
import type { CallOutcome, Channel } from '../../../src/pipeline/types.js';
import type { ReconcileResult, RenderedPart } from '../../../src/plugins/sdk.js';
import { SqliteQueue } from '../../../src/store/sqlite/queue.js';
import type { DeliveryRecord } from '../../../src/store/types.js';
import { eventually, ManualClock, queueOptions } from '../../support/index.js';

interface Script {
  sends?: Array<CallOutcome>;
  reconciles?: ReconcileResult[];
  idempotentSend?: 'native' | 'reconcile' | 'none';
  parts?: string[];
  buckets?: Array<{ key: string; limit: number; intervalMs: number }>;
}

function adapter(script: Script, log: { sends: RenderedPart[]; edits: Array<[string, string]>; reconciles: RenderedPart[] }): Channel {
  const unused = (): never => {
    throw new Error('not used here');
  };
  return {
    name: 'fake',
    capabilities: { edit: true, typing: false, idempotentSend: script.idempotentSend ?? 'none', textLimit: 100, transports: ['polling'] },
    methods: new Set(['edit', 'reconcile']),
    plan: async (markdown) => ({ parts: (script.parts ?? [markdown]).map((t) => ({ text: t, plain: t })), buckets: script.buckets ?? [] }),
    send: async (part) => {
      log.sends.push(part);
      return script.sends?.shift() ?? { ok: true, platformMessageId: `m${log.sends.length}` };
    },
    edit: async (id, part) => {
      log.edits.push([id, part.text]);
      return { ok: true, platformMessageId: id };
    },
    reconcile: async (part) => {
      log.reconciles.push(part);
      return script.reconciles?.shift() ?? { status: 'not_sent' };
    },
    typing: unused,
    webhook: unused,
    connect: unused,
    poll: unused,
  };
}

const running: Array<{ worker: DeliveryWorker; queue: SqliteQueue }> = [];
afterEach(async () => {
  for (const { worker, queue } of running.splice(0)) {
    await worker.stop();
    await queue.close();
  }
});

async function setup(script: Script) {
  const clock = new ManualClock();
  const queue = new SqliteQueue(':memory:', queueOptions({ now: clock.now }));
  const log = { sends: [] as RenderedPart[], edits: [] as Array<[string, string]>, reconciles: [] as RenderedPart[] };
  const fake = adapter(script, log);
  const [account] = resolveAccounts(channelsSchema.parse({ fake: { accounts: { default: {} } } }));
  const worker = new DeliveryWorker({
    store: queue,
    channel: (id) => (id === 'fake' ? fake : undefined),
    account: (channel, id) => (channel === 'fake' && id === 'default' ? account : undefined),
    metrics: new ChannelMetrics(new Registry()),
    log: pino({ level: 'silent' }),
    now: clock.now,
    rates: new RateScheduler(clock.now),
    settings: { maxAttempts: 5, maxRateWaitMs: 900_000, concurrency: 4, leaseMs: 60_000 },
  });
  running.push({ worker, queue });
  await worker.start();
  let n = 0;
  const add = async (markdown: string, extra: Record<string, unknown> = {}) => {
    const id = `d${++n}`;
    await queue.addDeliveries([{ id, messageId: null, channel: 'fake', account: 'default', lane: 'fake:default:c1', target: { conversation: { kind: 'direct', id: 'c1' } }, body: { markdown, ...extra } as never }]);
    return id;
  };
  const row = (id: string) => queue.getDelivery(id) as Promise<DeliveryRecord>;
  const settled = (id: string, state: DeliveryRecord['state']) => eventually(() => row(id), (r) => r?.state === state, 5_000, `${id} ${state}`);
  /** Move past a retry's wait and let the worker look again. */
  const later = (ms: number) => {
    clock.advance(ms);
    worker.wake();
  };
  return { queue, log, add, row, settled, later };
}

describe('delivery worker', () => {
  it('sends the parts of a reply in order, replying only with the first, and records each receipt', async () => {
    const t = await setup({ parts: ['one', 'two', 'three'] });
    const id = await t.add('ignored: the plan has the parts');
    const sent = await t.settled(id, 'sent');
    expect(t.log.sends.map((p) => p.text)).toEqual(['one', 'two', 'three']);
    expect(t.log.sends.map((p) => p.extra?.webhookId)).toEqual([`${id}.0`, `${id}.1`, `${id}.2`]);
    expect(sent).toMatchObject({ receipts: ['m1', 'm2', 'm3'], attempts: 1 });
  });

  it('goes on after a held part once a platform receipt proves it arrived, sending nothing twice', async () => {
    const t = await setup({ parts: ['one', 'two', 'three'], sends: [{ ok: true, platformMessageId: 'm1' }, { ok: false, errorClass: 'ambiguous', message: 'no answer in time' }] });
    const id = await t.add('x');
    expect(await t.settled(id, 'ambiguous')).toMatchObject({ nextPart: 1, receipts: ['m1'] });
    expect(await t.queue.applyReceipts('fake', 'default', [{ deliveryId: id, part: 1, platformMessageId: 'w2', status: 'delivered', at: 1 }])).toEqual(['resolved']);
    expect(await t.settled(id, 'sent')).toMatchObject({ receipts: ['m1', 'w2', 'm3'], receipt: { status: 'delivered' } });
    expect(t.log.sends.map((p) => p.text)).toEqual(['one', 'two', 'three']);

    // A reply of one part, never planned into the row: the receipt finishes it.
    const single = await setup({ sends: [{ ok: false, errorClass: 'ambiguous', message: 'reset after the request' }] });
    const only = await single.add('just this');
    await single.settled(only, 'ambiguous');
    await single.queue.applyReceipts('fake', 'default', [{ deliveryId: only, part: 0, platformMessageId: 'w1', status: 'sent', at: 1 }]);
    expect(await single.settled(only, 'sent')).toMatchObject({ receipts: ['w1'], attempts: 2 });
    expect(single.log.sends).toHaveLength(1);
  });

  it('a failure in the middle keeps the parts already sent; an operator retry sends only the rest', async () => {
    const t = await setup({ parts: ['one', 'two', 'three'], sends: [{ ok: true, platformMessageId: 'm1' }, { ok: false, errorClass: 'permanent', message: 'chat gone' }] });
    const id = await t.add('x');
    expect(await t.settled(id, 'dead')).toMatchObject({ nextPart: 1, receipts: ['m1'], lastError: 'chat gone' });
    expect(await t.queue.retryDelivery(id)).toBe(true);
    t.later(0);
    expect(await t.settled(id, 'sent')).toMatchObject({ receipts: ['m1', 'm3', 'm4'] });
    expect(t.log.sends.map((p) => p.text)).toEqual(['one', 'two', 'two', 'three']);
  });

  it('edits the preview messages of the turn into the first parts, and sends the rest', async () => {
    const t = await setup({ parts: ['one', 'two', 'three'] });
    const id = await t.add('x', { edits: ['p1', 'p2'] });
    await t.settled(id, 'sent');
    expect(t.log.edits).toEqual([
      ['p1', 'one'],
      ['p2', 'two'],
    ]);
    expect(t.log.sends.map((p) => p.text)).toEqual(['three']);
  });

  it('resends a part the platform could not parse as its plain text, once', async () => {
    const t = await setup({ sends: [{ ok: false, errorClass: 'unparsable', message: "can't parse" }] });
    const id = await t.add('hello');
    await t.settled(id, 'sent');
    expect(t.log.sends.map((p) => [p.text, p.extra?.plain ?? false])).toEqual([
      ['hello', false],
      ['hello', true],
    ]);
  });

  it('a full rate bucket sends the row back without calling the platform or using an attempt', async () => {
    const t = await setup({ buckets: [{ key: 'chat:c1', limit: 1, intervalMs: 10_000 }] });
    const first = await t.add('first');
    await t.settled(first, 'sent');
    const second = await t.add('second');
    await eventually(() => t.row(second), (r) => r?.state === 'queued' && r.availableAt > r.createdAt, 5_000, 'the second put back until the bucket frees');
    expect(t.log.sends).toHaveLength(1);
    expect((await t.row(second)).attempts).toBe(0);
    t.later(10_000);
    expect(await t.settled(second, 'sent')).toMatchObject({ attempts: 1 });
  });

  describe('reconciling channels', () => {
    it('asks before sending again after a send that may have arrived: found, it is not sent twice', async () => {
      const t = await setup({ idempotentSend: 'reconcile', sends: [{ ok: false, errorClass: 'ambiguous', message: 'timeout' }], reconciles: [{ status: 'sent', platformMessageId: 'found-1' }] });
      const id = await t.add('hello');
      await t.settled(id, 'failed');
      t.later(5_000);
      expect(await t.settled(id, 'sent')).toMatchObject({ receipts: ['found-1'], attempts: 2 });
      expect(t.log.sends).toHaveLength(1);
      expect(t.log.reconciles.map((p) => p.extra?.webhookId)).toEqual([`${id}.0`]);
    });

    it('sends again when the platform says it never arrived', async () => {
      const t = await setup({ idempotentSend: 'reconcile', sends: [{ ok: false, errorClass: 'ambiguous', message: 'reset' }], reconciles: [{ status: 'not_sent' }] });
      const id = await t.add('hello');
      await t.settled(id, 'failed');
      t.later(5_000);
      expect(await t.settled(id, 'sent')).toMatchObject({ receipts: ['m2'] });
      expect(t.log.sends).toHaveLength(2);
    });

    it('holds it when the platform cannot tell', async () => {
      const t = await setup({ idempotentSend: 'reconcile', sends: [{ ok: false, errorClass: 'ambiguous', message: 'reset' }], reconciles: [{ status: 'unresolved' }] });
      const id = await t.add('hello');
      await t.settled(id, 'failed');
      t.later(5_000);
      await t.settled(id, 'ambiguous');
      expect(t.log.sends).toHaveLength(1);
    });

    it('never asks on a first attempt', async () => {
      const t = await setup({ idempotentSend: 'reconcile' });
      await t.settled(await t.add('hello'), 'sent');
      expect(t.log.reconciles).toEqual([]);
    });
  });
});
