/**
 * Core's side of reply buttons, through a real Pincer and the Telegram plugin against its fake:
 * buttons a plugin returns that break the contract (a value over 64 bytes, more than 10) are
 * left off with a warning, and the reply itself is delivered. Telegram refuses a whole message
 * over one bad button (BUTTON_DATA_INVALID), so a button let through would lose the reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/json.js';
import type { Responder } from '../../src/pipeline/types.js';
import { accountReady, deliveriesIn, startChannelPincer } from '../support/channels.js';
import { TelegramFake } from '../support/fakes/telegram.js';
import { eventually, type RunningPincer } from '../support/index.js';

const badButtons: Record<string, JsonValue> = {
  'long value': [
    { label: 'Fine', value: '/ping' },
    { label: 'Too long', value: `/echo ${'x'.repeat(60)}` },
  ],
  'eleven buttons': Array.from({ length: 11 }, (_, i) => ({ label: `B${i}`, value: `/echo ${i}` })),
};

const broken: Responder = {
  name: 'broken-buttons',
  order: 10,
  respond: (ctx) => (ctx.message.text in badButtons ? { text: `about ${ctx.message.text}`, data: { buttons: badButtons[ctx.message.text]! } } : undefined),
};

describe('reply buttons that break the contract', () => {
  const fake = new TelegramFake();
  let running: RunningPincer;
  let warned = 0;

  beforeAll(async () => {
    await fake.start();
    running = await startChannelPincer({
      channels: { telegram: { api_root: fake.url, accounts: { default: { token: fake.token, poll_timeout: 1, dm_policy: 'open', streaming: 'off' } } } },
      setup: (pincer) => pincer.registry.addResponder(broken),
    });
    await accountReady(running.pincer, 'telegram');
  });

  afterAll(async () => {
    await running?.close();
    await fake.stop();
  });

  it.each(['long value', 'eleven buttons'])('%s: the reply is delivered without buttons and a warning logged', async (text) => {
    const user = fake.user({ id: text.length + 9100, first_name: 'Cy' });
    const chat = fake.privateChat(user);
    fake.pushMessage({ chat, from: user, text });
    const lane = `telegram:default:${chat.id}`;
    const [delivery] = await eventually(() => deliveriesIn(running.pincer, 'sent', 'telegram').then((d) => d.filter((x) => x.lane === lane)), (d) => d.length === 1, 20_000, 'the delivery');
    expect(fake.sent(chat.id)).toEqual([expect.objectContaining({ text: `about ${text}` })]);
    expect(fake.sent(chat.id)[0]!.reply_markup).toBeUndefined();
    expect(delivery!.body['buttons']).toBeUndefined();
    // Nothing was refused on the way: the buttons never reached Telegram.
    expect(fake.calls.filter((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === chat.id && c.status !== 200)).toEqual([]);
    // One warning per reply whose buttons were left off.
    const warnings = running.logs.lines.filter((l) => l.event === 'channel.buttons_dropped');
    expect(warnings).toHaveLength(++warned);
    expect(warnings.at(-1)).toMatchObject({ level: 'warn', component: 'channels', problem: expect.stringMatching(/^reply\.data\.buttons/) });
  });
});
