/**
 * The channel bench's adapters for platforms that hold events for the bot to take: Telegram
 * (getUpdates), Discord (the gateway's dispatches) and Matrix (/sync). Each reference is the
 * same fake handing the same burst to a bare client of its protocol, and taking the same send
 * calls from a bare undici loop.
 */
import { request } from 'undici';
import { TelegramDriver } from '../test/channels/drivers.js';
import { DiscordDriver } from '../test/channels/drivers-discord.js';
import { MatrixDriver } from '../test/channels/drivers-matrix.js';
import { TelegramFake } from '../test/support/fakes/telegram.js';
import type { ChannelBench } from './channels.js';
import { bareSends, platformId, socketBurst } from './channels-reference.js';

const JSON_TYPE = { 'content-type': 'application/json' };
const elapsed = (since: number): number => (performance.now() - since) / 1000;

export const telegram: ChannelBench = {
  label: 'Telegram',
  inboundHow: 'getUpdates long polling',
  sendHow: 'sendMessage',
  push: 'burst',
  // Telegram's real limits (1/s a chat, 30/s a bot) would make this a measure of those limits;
  // they are lifted in the fake and in Pincer's pacing, so the figure is Pincer's own machinery.
  account: { streaming: 'off', rate: { per_chat: '1000/s', per_group: '1000/s', global: '100000/s' } },
  open() {
    const driver = new TelegramDriver(new TelegramFake({ limits: false }));
    const fake = driver.fake;
    const call = async (method: string, body: unknown): Promise<{ result: Array<{ update_id: number }> }> => {
      const res = await request(`${fake.url}/bot${fake.token}/${method}`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify(body) });
      return (await res.body.json()) as { result: Array<{ update_id: number }> };
    };
    return {
      driver,
      delivered: () => fake.sent().length,
      async inboundAlone(push) {
        const start = performance.now();
        await push();
        // getUpdates of 100 (what the plugin asks for), each confirming the batch before it.
        let offset = 0;
        while (fake.pendingUpdates.length > 0) {
          const last = (await call('getUpdates', { offset, limit: 100, timeout: 0 })).result.at(-1);
          if (last) offset = last.update_id + 1;
        }
        return elapsed(start);
      },
      sendsAlone(users, count) {
        // A bot may write only to users who have a chat with it, as Pincer's users do by writing first.
        for (const user of users) fake.privateChat(fake.user({ id: Number(user) }));
        return bareSends(count, (i) => ({
          method: 'POST',
          url: `${fake.url}/bot${fake.token}/sendMessage`,
          headers: JSON_TYPE,
          body: JSON.stringify({ chat_id: Number(users[i % users.length]), text: `reply ${i}`, parse_mode: 'HTML' }),
        }));
      },
    };
  },
};

/** GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT: what the plugin identifies with by default. */
const DISCORD_INTENTS = 1 | (1 << 9) | (1 << 12) | (1 << 15);

export const discord: ChannelBench = {
  label: 'Discord',
  inboundHow: 'gateway MESSAGE_CREATE dispatches',
  sendHow: 'POST /channels/{id}/messages',
  push: 'burst',
  // The plugin paces every send to Discord's global limit, 50 requests/s, fixed in the plugin.
  pacedAt: 50,
  open() {
    const driver = new DiscordDriver();
    const fake = driver.fake;
    return {
      driver,
      delivered() {
        let n = 0;
        for (const list of fake.messages.values()) for (const m of list) if (m.author.id === fake.bot.id) n++;
        return n;
      },
      inboundAlone: (push, count) =>
        // A bare gateway client: IDENTIFY on HELLO, then every MESSAGE_CREATE parsed.
        socketBurst(fake.gateway.url, count, push, (frame, send) => {
          if (frame['op'] === 10) send({ op: 2, d: { token: fake.token, intents: DISCORD_INTENTS, properties: { os: 'linux', browser: 'bench', device: 'bench' } } });
          return frame['t'] === 'READY' ? 'ready' : frame['t'] === 'MESSAGE_CREATE' ? 'taken' : undefined;
        }),
      sendsAlone(users, count) {
        const channels = users.map((u) => platformId(driver.conversationId(u)));
        return bareSends(count, (i) => ({
          method: 'POST',
          url: `${fake.url}/v10/channels/${channels[i % channels.length]}/messages`,
          headers: { ...JSON_TYPE, authorization: `Bot ${fake.token}` },
          body: JSON.stringify({ content: `reply ${i}`, nonce: `bench${i}`, enforce_nonce: true, allowed_mentions: { parse: [] } }),
        }));
      },
    };
  },
};

/** The plugin's /sync filter (plugins/channel-matrix/poll.ts): the timeline types it reads, 100 a room. */
const MATRIX_FILTER = JSON.stringify({ room: { timeline: { types: ['m.room.message', 'm.room.member', 'm.room.encrypted'], limit: 100 } } });

interface SyncBody {
  next_batch: string;
  rooms?: { join?: Record<string, { timeline: { events: Array<{ type: string; sender: string }> } }> };
}

export const matrix: ChannelBench = {
  label: 'Matrix',
  inboundHow: '/sync long polling',
  sendHow: 'PUT /rooms/{id}/send/m.room.message/{txn}',
  push: 'burst',
  // The plugin paces every send to 50/s for the homeserver as a whole, fixed in the plugin.
  pacedAt: 50,
  open() {
    const driver = new MatrixDriver();
    const fake = driver.fake;
    const headers = { ...JSON_TYPE, authorization: `Bearer ${fake.bot.token}` };
    const sync = async (query: Record<string, string>): Promise<SyncBody> => {
      const res = await request(`${fake.url}/_matrix/client/v3/sync?${new URLSearchParams(query).toString()}`, { headers });
      return (await res.body.json()) as SyncBody;
    };
    return {
      driver,
      delivered: () => fake.sends.reduce((n, s) => n + (s.duplicate || s.sender !== fake.bot.userId ? 0 : 1), 0),
      async inboundAlone(push, count) {
        let since = (await sync({ timeout: '0' })).next_batch;
        const start = performance.now();
        await push();
        let taken = 0;
        while (taken < count) {
          const batch = await sync({ since, timeout: '1000', filter: MATRIX_FILTER });
          since = batch.next_batch;
          for (const room of Object.values(batch.rooms?.join ?? {})) taken += room.timeline.events.filter((e) => e.type === 'm.room.message' && e.sender !== fake.bot.userId).length;
        }
        return elapsed(start);
      },
      sendsAlone(users, count) {
        const rooms = users.map((u) => encodeURIComponent(`!${platformId(driver.conversationId(u))}`));
        return bareSends(count, (i) => ({
          method: 'PUT',
          url: `${fake.url}/_matrix/client/v3/rooms/${rooms[i % rooms.length]}/send/m.room.message/bench${i}`,
          headers,
          body: JSON.stringify({ msgtype: 'm.text', body: `reply ${i}`, format: 'org.matrix.custom.html', formatted_body: `<p>reply ${i}</p>`, 'm.mentions': {} }),
        }));
      },
    };
  },
};
