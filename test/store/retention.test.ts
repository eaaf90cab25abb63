import type { Logger } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { retention } from '../../src/store/retention.js';
import { SqliteQueue } from '../../src/store/sqlite/queue.js';
import { ManualClock, queueOptions } from '../support/index.js';
import { delivery } from './channel-conformance.js';
import { msg } from './conformance.js';

const HOUR = 3_600_000;

describe('retention job', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('purges finished messages, finished deliveries, expired pairing requests, old journal rows, memory turns and unanswered questions every hour', async () => {
    const clock = new ManualClock();
    const queue = new SqliteQueue(':memory:', queueOptions({ now: clock.now }));
    const old = await queue.enqueue(msg('c1'));
    const [claim] = await queue.claim(1);
    await queue.agent.writeJournal(claim!, [{ step: 0, call: -1, state: 'finished', entry: { text: 'ok' }, attempt: 1 }]);
    await queue.complete(claim!, { analysis: {}, reply: { text: 'ok', responder: 't' }, deliveries: [delivery('tg:A')] });
    const [send] = await queue.claimDeliveries(1);
    await queue.updateDelivery(send!, { kind: 'sent', receipts: ['m'] });
    await queue.requestPairing({ channel: 'tg', account: 'bot', senderId: 'u1', code: 'AAAA1111', createdAt: clock.time, expiresAt: clock.time + 1_000 }, 3);
    expect(await queue.memory.indexTurns('c1', 10)).toBe(1);
    await queue.knowledge.logUnanswered({ query: 'how do I fly?', conversationId: 'c1', channel: 'tg', topChunkId: null, score: null });
    const [kept] = await queue.addDeliveries([delivery('tg:B')]).then(() => queue.listDeliveries({ limit: 1, state: 'queued' }));
    clock.advance(2 * HOUR);

    const purged: string[] = [];
    let allPurged!: () => void;
    const done = new Promise<void>((resolve) => (allPurged = resolve));
    const log = {
      info: (fields: { what: string; removed: number }) => {
        purged.push(`${fields.removed} ${fields.what}`);
        if (purged.length === 6) allPurged();
      },
      error: (fields: { err: unknown }, message: string) => purged.push(`error: ${message}: ${String(fields.err)}`),
    } as unknown as Logger;
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const job = retention({ admin: queue, channels: queue, agent: queue.agent, memory: queue.memory, knowledge: queue.knowledge }, HOUR, log);
    job.start();
    await vi.advanceTimersByTimeAsync(HOUR);
    await done;
    job.stop();

    expect(purged).toEqual(['1 finished message(s)', '1 finished delivery(ies)', '1 expired pairing request(s)', '1 agent journal row(s) and decided approval(s)', '1 memory turn(s) and summary(ies)', '1 unanswered knowledge-base question(s)']);
    expect(await queue.agent.journal(old.id)).toEqual([]);
    expect(await queue.memory.searchTurns('c1', ['hi'], 5)).toEqual([]);
    expect(await queue.knowledge.listUnanswered({ limit: 10 })).toEqual([]);
    expect(await queue.get(old.id)).toBeUndefined();
    expect(await queue.getDelivery(kept!.id)).toMatchObject({ state: 'queued' });
    expect(await queue.listPairings()).toEqual([]);
    await queue.close();
  });
});
