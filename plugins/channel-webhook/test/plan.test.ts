import type { ChannelAccount, ChannelTarget, JsonObject } from 'pincer/plugin';
import { describe, expect, it } from 'vitest';
import { webhookChannel } from '../channel.js';

const target: ChannelTarget = { conversation: { kind: 'direct', id: 'c1' } };
const account = (config: JsonObject = {}): ChannelAccount => ({ id: 'main', config: { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', ...config } });

describe('webhook channel: planning a reply', () => {
  it('declares what the channel can do', () => {
    expect(webhookChannel.id).toBe('webhook');
    expect(webhookChannel.capabilities).toEqual({ edit: false, typing: false, idempotentSend: 'native', textLimit: 32_768, transports: ['webhook'] });
    expect(webhookChannel.poll).toBeUndefined();
  });

  it('checks the account settings at connect, naming the one at fault', async () => {
    const signal = new AbortController().signal;
    await expect(webhookChannel.connect!(account(), signal)).resolves.toBeUndefined();
    await expect(webhookChannel.connect!(account({ callback_url: 'http://127.0.0.1:9/hook', timeout: 5 }), signal)).resolves.toBeUndefined();
    await expect(webhookChannel.connect!({ id: 'ops', config: {} }, signal)).rejects.toThrow(/^channels\.webhook\.accounts\.ops\.secret: not set/);
    await expect(webhookChannel.connect!(account({ callback_url: 'nope' }), signal)).rejects.toMatchObject({ code: 'CHANNEL_ACCOUNT_INVALID', setting: 'channels.webhook.accounts.main.callback_url' });
    await expect(webhookChannel.connect!(account({ rate_per_second: -1 }), signal)).rejects.toThrow(/rate_per_second/);
  });

  it('passes Markdown through as one part, within one global bucket of 50 a second', async () => {
    const markdown = '# Title\n\n**bold** and `code`';
    expect(await webhookChannel.plan(markdown, target, account())).toEqual({
      // The plain form (sent only if a receiver could refuse markup) drops code markers.
      parts: [{ text: markdown, plain: '# Title\n\n**bold** and code', extra: { partIndex: 0, partCount: 1 } }],
      buckets: [{ key: 'global', limit: 50, intervalMs: 1000 }],
    });
  });

  it('takes the rate from the account, and refuses one that is not a whole number', async () => {
    expect((await webhookChannel.plan('x', target, account({ rate_per_second: 5 }))).buckets).toEqual([{ key: 'global', limit: 5, intervalMs: 1000 }]);
    for (const bad of [0, 2.5, '10']) {
      expect(() => webhookChannel.plan('x', target, account({ rate_per_second: bad }))).toThrow(/rate_per_second: expected a whole number/);
    }
  });

  it('plans nothing for an empty reply', async () => {
    expect((await webhookChannel.plan('  \n ', target, account())).parts).toEqual([]);
  });

  it('splits a reply over the limit into numbered parts within it', async () => {
    const paragraph = 'word '.repeat(2_000).trim();
    const markdown = Array.from({ length: 8 }, () => paragraph).join('\n\n');
    const { parts } = await webhookChannel.plan(markdown, target, account());
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((p) => p.text.length <= 32_768)).toBe(true);
    expect(parts.map((p) => p.extra)).toEqual(parts.map((_, i) => ({ partIndex: i, partCount: parts.length })));
    // Cut at paragraph breaks: no paragraph is broken.
    expect(parts.flatMap((p) => p.text.split('\n\n')).every((t) => t === paragraph)).toBe(true);
  });

  it('cuts a code block too long for one part into blocks that each open and close', async () => {
    const code = Array.from({ length: 3_000 }, (_, i) => `    line(${i}); // some code here`).join('\n');
    const markdown = `Here:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nDone.`;
    const { parts } = await webhookChannel.plan(markdown, target, account());
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) {
      expect(p.text.length).toBeLessThanOrEqual(32_768);
      expect(p.text.match(/^```/gm)?.length ?? 0).toSatisfy((n: number) => n % 2 === 0);
    }
    // Every line of code arrives once, indentation kept.
    const lines = parts.flatMap((p) => p.text.split('\n')).filter((l) => l.startsWith('    line('));
    expect(lines).toEqual(code.split('\n'));
  });
});
