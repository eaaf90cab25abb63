/**
 * The channel bench's adapters for platforms that push events to the bot: WhatsApp Cloud API
 * (signed webhook POSTs), Slack (Events API POSTs, or Socket Mode envelopes), and Pincer's own
 * signed webhook channel. A posted channel's inbound reference is the fake's same POSTs to a
 * server that only answers 200 (channels.ts); Socket Mode's is a bare socket client that acks.
 */
import { request } from 'undici';
import { webhookHeaders } from '../src/channels/kit/standard-webhooks.js';
import { WebhookDriver } from '../test/channels/drivers.js';
import { SlackDriver } from '../test/channels/drivers-slack.js';
import { WhatsAppDriver } from '../test/channels/drivers-whatsapp.js';
import { SlackFake } from '../test/support/fakes/slack.js';
import { WebhookReceiver } from '../test/support/fakes/webhook-receiver.js';
import type { ChannelBench } from './channels.js';
import { bareSends, platformId, sink, socketBurst } from './channels-reference.js';

const JSON_TYPE = { 'content-type': 'application/json' };

/** Wait (a few milliseconds at a time) until `done` holds: the fake's background calls have ended. */
async function settled(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 20));
}

export const whatsapp: ChannelBench = {
  label: 'WhatsApp Cloud API',
  inboundHow: 'signed webhook POSTs',
  sendHow: 'Graph POST /{phone}/messages',
  push: 'posted',
  // Pincer paces a business number to Meta's default 80 messages/s; the fake does not enforce
  // it, so it is lifted (as Telegram's limits are) to measure Pincer, not the pacing.
  account: { rate: { global: '100000/s' } },
  open() {
    const driver = new WhatsAppDriver();
    const fake = driver.fake;
    return {
      driver,
      delivered: () => fake.outbound.length,
      async sendsAlone(users, count) {
        // The fake reports every accepted message with status webhooks, as Meta does: to a server that answers 200.
        const target = await sink();
        fake.webhookUrl = target.url;
        // Each user has written, so their 24-hour window is open.
        for (const user of users) fake.text(user, 'hello');
        try {
          return await bareSends(count, (i) => ({
            method: 'POST',
            url: `${fake.url}/v21.0/${fake.phoneNumberId}/messages`,
            headers: { ...JSON_TYPE, authorization: `Bearer ${fake.accessToken}` },
            body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', to: users[i % users.length], type: 'text', text: { body: `reply ${i}`, preview_url: false }, biz_opaque_callback_data: `bench-${i}` }),
          }));
        } finally {
          await fake.statusesSettled();
          await target.close();
        }
      },
    };
  },
};

function slack(transport: 'webhook' | 'socket'): ChannelBench {
  return {
    label: transport === 'socket' ? 'Slack (Socket Mode)' : 'Slack (Events API)',
    inboundHow: transport === 'socket' ? 'Socket Mode envelopes' : 'signed Events API POSTs',
    sendHow: 'chat.postMessage',
    push: transport === 'socket' ? 'burst' : 'posted',
    open() {
      // Slack's own timings (3 s to ack an envelope), not the conformance suite's shortened ones.
      const driver = new SlackDriver(transport, new SlackFake());
      const fake = driver.fake;
      return {
        driver,
        delivered: () => fake.calls.reduce((n, c) => n + (c.method === 'chat.postMessage' && c.outcome === 'ok' ? 1 : 0), 0),
        ...(transport === 'socket' && {
          async inboundAlone(push: () => Promise<unknown>, count: number) {
            // A bare Socket Mode client: apps.connections.open, then an ack for each envelope.
            const res = await request(`${fake.url}apps.connections.open`, { method: 'POST', headers: { authorization: `Bearer ${fake.appToken}` } });
            const { url } = (await res.body.json()) as { url: string };
            const taken = new Set<string>();
            return socketBurst(url, count, push, (message, send) => {
              if (message['type'] === 'hello') return 'ready';
              const id = message['envelope_id'];
              if (typeof id !== 'string') return undefined;
              send({ envelope_id: id });
              // An envelope sent again after the ack timeout is not a second event.
              if (taken.has(id)) return undefined;
              taken.add(id);
              return 'taken';
            });
          },
        }),
        async sendsAlone(users, count) {
          // Slack sends the bot's own posts back as events: here to a server that answers 200
          // (over the Events API for both rows; the send path is the same).
          const target = await sink();
          fake.transport = 'webhook';
          fake.webhookUrl = target.url;
          const channels = users.map((u) => platformId(driver.conversationId(u)));
          try {
            return await bareSends(count, (i) => ({
              method: 'POST',
              url: `${fake.url}chat.postMessage`,
              headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${fake.botToken}` },
              body: new URLSearchParams({ channel: channels[i % channels.length]!, text: `reply ${i}`, mrkdwn: 'true', unfurl_links: 'false', unfurl_media: 'false', metadata: JSON.stringify({ event_type: 'pincer_delivery', event_payload: { part: `bench-${i}` } }) }).toString(),
              accepted: (answer) => (JSON.parse(answer) as { ok?: boolean }).ok === true,
            }));
          } finally {
            await settled(() => fake.events.deliveries.every((d) => d.acked));
            await target.close();
          }
        },
      };
    },
  };
}

export const slackEvents = slack('webhook');
export const slackSocket = slack('socket');

const BENCH_CALLBACK_SECRET = 'whsec_' + Buffer.from('bench-callback-secret-0123456789').toString('base64');

export const webhook: ChannelBench = {
  label: 'Webhook (Standard Webhooks)',
  inboundHow: 'signed POSTs',
  sendHow: 'signed callback POSTs',
  push: 'posted',
  // 50 replies/s is the channel's default pacing for a receiver nobody has sized; this one takes anything.
  account: { rate_per_second: 1_000_000 },
  open() {
    const driver = new WebhookDriver();
    return {
      driver,
      delivered: () => driver.receiver.accepted.length,
      async sendsAlone(users, count) {
        // A receiver of its own (the driver's secret is its own), verifying and deduping as the driver's does.
        const receiver = await WebhookReceiver.start({ secret: BENCH_CALLBACK_SECRET });
        try {
          return await bareSends(count, (i) => {
            const body = JSON.stringify({ type: 'message.reply', conversationId: users[i % users.length], text: `reply ${i}` });
            return { method: 'POST', url: receiver.url, headers: { ...JSON_TYPE, ...webhookHeaders(BENCH_CALLBACK_SECRET, `pincer_bench_${i}`, body) }, body };
          });
        } finally {
          await receiver.close();
        }
      },
    };
  },
};
