import { describe, expect, it } from 'vitest';
import { RateScheduler } from '../../../src/channels/outbox/rate-scheduler.js';

describe('rate scheduler', () => {
  const perChat = { key: 'chat:1', limit: 1, intervalMs: 1000 };
  const perGroup = { key: 'chat:-5', limit: 20, intervalMs: 60_000 };
  const global = { key: 'global', limit: 30, intervalMs: 1000 };

  it('allows a bucket its limit per interval, in any window', () => {
    let now = 0;
    const rates = new RateScheduler(() => now);
    expect(rates.take('tg', [perChat, global])).toBe(0);
    expect(rates.take('tg', [perChat, global])).toBe(1000);
    now = 400;
    expect(rates.take('tg', [perChat, global])).toBe(600);
    now = 1000;
    expect(rates.take('tg', [perChat, global])).toBe(0);
  });

  it('never lets 21 group messages into one minute', () => {
    let now = 0;
    const rates = new RateScheduler(() => now);
    const sent: number[] = [];
    while (sent.length < 60) {
      const wait = rates.take('tg', [perGroup]);
      if (wait === 0) sent.push(now);
      else now += wait;
    }
    for (let i = 20; i < sent.length; i++) expect((sent[i] as number) - (sent[i - 20] as number)).toBeGreaterThanOrEqual(60_000);
  });

  it('a wait in one bucket takes no slot from the others', () => {
    const now = 0;
    const rates = new RateScheduler(() => now);
    rates.take('tg', [perChat, global]);
    for (let i = 0; i < 5; i++) expect(rates.take('tg', [perChat, global])).toBeGreaterThan(0);
    // Only one global slot was used: 29 other chats may still send this second.
    for (let i = 0; i < 29; i++) expect(rates.take('tg', [{ key: `chat:${i + 100}`, limit: 1, intervalMs: 1000 }, global])).toBe(0);
    expect(rates.take('tg', [{ key: 'chat:999', limit: 1, intervalMs: 1000 }, global])).toBe(1000);
  });

  it('a 429 pauses the chat, not the whole account, and accounts are separate', () => {
    let now = 0;
    const rates = new RateScheduler(() => now);
    rates.pause('tg', [perChat, global], 3000);
    expect(rates.take('tg', [perChat, global])).toBe(3000);
    expect(rates.take('tg', [{ key: 'chat:2', limit: 1, intervalMs: 1000 }, global])).toBe(0);
    expect(rates.take('other', [perChat, global])).toBe(0);
    now = 3000;
    expect(rates.take('tg', [perChat, global])).toBe(0);
  });
});
