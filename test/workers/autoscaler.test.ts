import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LocalMessageEvents } from '../../src/events/local.js';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import { Autoscaler, DEFAULT_POLICY, type AutoscaleSignals } from '../../src/workers/autoscaler.js';
import { WorkerPool } from '../../src/workers/worker-pool.js';
import { eventually, getJson, queueOptions, startPincer, tempDir } from '../support/index.js';

const calm = { lagMs: 5, cpu: 0.3, memory: 0.2 };

function scaler(start: number, overrides: Partial<typeof DEFAULT_POLICY> = {}) {
  let concurrency = start;
  const autoscaler = new Autoscaler({ ...DEFAULT_POLICY, min: 4, max: 64, ...overrides }, () => concurrency, (n) => (concurrency = n));
  const history: number[] = [];
  const run = (signals: (current: number) => Omit<AutoscaleSignals, 'lagMs' | 'cpu' | 'memory'> & Partial<AutoscaleSignals>, ticks: number) => {
    for (let i = 0; i < ticks; i++) {
      autoscaler.tick({ ...calm, ...signals(concurrency) });
      history.push(concurrency);
    }
  };
  return { autoscaler, run, history, get concurrency() {
    return concurrency;
  } };
}

const saturated = (backlog: number) => (current: number) => ({ backlog, busy: current });
const idle = () => ({ backlog: 0, busy: 0 });

describe('autoscaler policy', () => {
  it('scales up step by step under a backlog, to max and no further', () => {
    const s = scaler(8);
    s.run(saturated(1000), 1);
    expect(s.concurrency).toBe(8); // one tick of pressure is not enough
    s.run(saturated(1000), 1);
    expect(s.concurrency).toBe(12);
    s.run(saturated(1000), 20);
    expect(s.concurrency).toBe(64);
    // Every step was an increase of at most x1.5, two ticks apart.
    const changes = s.history.filter((n, i) => i === 0 || n !== s.history[i - 1]);
    expect(changes).toEqual([8, 12, 18, 27, 41, 62, 64]);
    expect(s.autoscaler.lastChange).toMatchObject({ from: 62, to: 64, reason: expect.stringMatching(/backlog of 1000 with 62\/62 workers busy/) });
  });

  it('scales down only after a long quiet spell, to min and no further', () => {
    const s = scaler(64);
    s.run(idle, 9);
    expect(s.concurrency).toBe(64);
    s.run(idle, 1);
    expect(s.concurrency).toBe(48);
    s.run(idle, 200);
    expect(s.concurrency).toBe(4);
  });

  it('does not flap: bursts between quiet spells and busy-but-not-saturated load change nothing', () => {
    const s = scaler(16);
    for (let i = 0; i < 30; i++) {
      s.run(saturated(50), 1); // a burst, one tick long
      s.run(idle, 3); // then quiet, shorter than down_after
    }
    // Half to 90 % of slots busy with a small backlog: inside the band.
    s.run((c) => ({ backlog: 3, busy: Math.floor(c * 0.7) }), 50);
    expect(new Set(s.history)).toEqual(new Set([16]));
  });

  it('holds back from scaling up while the event loop lags or CPU is saturated', () => {
    const s = scaler(8);
    s.run((c) => ({ ...saturated(1000)(c), lagMs: 150 }), 10);
    expect(s.concurrency).toBe(8);
    s.run((c) => ({ ...saturated(1000)(c), cpu: 0.99 }), 10);
    expect(s.concurrency).toBe(8);
    // Strain resets the streak: recovery needs two calm ticks of pressure again.
    s.run(saturated(1000), 1);
    expect(s.concurrency).toBe(8);
    s.run(saturated(1000), 1);
    expect(s.concurrency).toBe(12);
  });

  it('steps down at once under severe lag or high memory, despite a backlog', () => {
    const s = scaler(32);
    s.run((c) => ({ ...saturated(1000)(c), lagMs: 250 }), 1);
    expect(s.concurrency).toBe(24);
    expect(s.autoscaler.lastChange?.reason).toMatch(/event-loop lag 250 ms/);
    s.run((c) => ({ ...saturated(1000)(c), memory: 0.9 }), 1);
    expect(s.concurrency).toBe(18);
    expect(s.autoscaler.lastChange?.reason).toMatch(/heap 90 % of its limit/);
    s.run((c) => ({ ...saturated(1000)(c), memory: 0.9 }), 50);
    expect(s.concurrency).toBe(4);
  });

  it('brings a limit set outside the bounds back in, and refuses bad bounds', () => {
    const s = scaler(500);
    s.run(idle, 1);
    expect(s.concurrency).toBe(64);
    expect(() => new Autoscaler({ ...DEFAULT_POLICY, min: 10, max: 5 }, () => 1, () => {})).toThrow(/1 <= min <= max/);
  });
});

describe('autoscaler driving a worker pool', () => {
  it('grows the pool under a backlog of slow messages and shrinks it when idle', async () => {
    const { dir, cleanup } = tempDir();
    const queue = new SqliteQueue(path.join(dir, 'q.db'), queueOptions({ maxLength: 10_000 }));
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const pool = new WorkerPool(queue, async () => {
      await gate;
      return { analysis: {}, reply: { text: 'ok', responder: 'test' } };
    }, new LocalMessageEvents(), pino({ level: 'silent' }), { concurrency: 4, shutdownTimeoutMs: 1000, leaseMs: 30_000 });
    const autoscaler = new Autoscaler({ ...DEFAULT_POLICY, min: 4, max: 32, downAfter: 3 }, () => pool.concurrency, (n) => pool.setConcurrency(n));
    const tick = async () => {
      const stats = await queue.stats();
      autoscaler.tick({ ...calm, backlog: stats.byState.queued, busy: pool.stats().inFlight });
    };
    try {
      for (let i = 0; i < 200; i++) await queue.enqueue({ text: `m${i}`, conversationId: `c${i}`, channel: 'test', priority: 'normal' });
      pool.start();
      await eventually(() => pool.stats().inFlight, (n) => n === 4, 5000, 'four workers busy');
      for (let i = 0; i < 12; i++) {
        await tick();
        // Each step is real: the pool fills the new slots from the backlog before the next tick.
        await eventually(() => pool.stats().inFlight, (n) => n === pool.concurrency, 5000, 'new slots filled');
      }
      expect(pool.concurrency).toBe(32);
      release();
      await eventually(async () => (await queue.stats()).depth, (d) => d === 0, 10_000, 'backlog drained');
      for (let i = 0; i < 40 && pool.concurrency > 4; i++) await tick();
      expect(pool.concurrency).toBe(4);
    } finally {
      release();
      await pool.stop();
      await queue.close();
      cleanup();
    }
  });
});

describe('autoscaler in a running Pincer', () => {
  it('acts on the metrics sample: an idle bot sheds workers, logged and shown in /v1/stats', async () => {
    const bot = await startPincer({ PINCER_WORKERS_CONCURRENCY: '32', PINCER_WORKERS_AUTOSCALE_DOWN_AFTER: '1' });
    try {
      await eventually(() => bot.pincer.workers.concurrency, (n) => n < 32, 10_000, 'fewer workers once idle');
      const stats = await getJson(`${bot.url}/v1/stats`);
      expect(stats.body.workers).toMatchObject({ autoscale: true, min: 4, max: 256, lastChange: { reason: expect.stringMatching(/workers busy/) } });
      expect(stats.body.workers.lastChange.to).toBeLessThan(stats.body.workers.lastChange.from);
      expect(bot.logs.lines.some((l) => l.event === 'workers.autoscale' && l.from === 32 && l.to === 24)).toBe(true);
    } finally {
      await bot.close();
    }
  });
});
