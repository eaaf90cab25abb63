import type { PluginDefinition } from 'pincer/plugin';
import { FetchRefused, UrlFetcher } from './fetch-url.js';
import { toolsSettings } from './settings.js';
import { isTimeZone, resolveZone, timeIn } from './time.js';

/**
 * First-party tools for the model's tool loop (docs/tools.md): `current_time` (in the
 * sender's time zone when the model names none and the channel knows it), and
 * `fetch_url` when `fetch_url.enabled` is set.
 */
export const plugin: PluginDefinition = {
  setup(ctx) {
    const settings = toolsSettings(ctx.config);
    if (!isTimeZone(settings.timeZone)) throw new TypeError(`time_zone: "${settings.timeZone}" is not an IANA time zone (Europe/Berlin, America/New_York)`);
    ctx.tool({
      name: 'current_time',
      description: "The current date, time and weekday. Pass time_zone (IANA, e.g. \"Asia/Tokyo\") for another place than the user's own.",
      parameters: { type: 'object', properties: { time_zone: { type: 'string', description: 'IANA time zone name, or a city in one' } }, additionalProperties: false },
      // For the built-in model, with no language model configured.
      examples: ['what time is it', 'what is the time', 'current time', 'what is the date today', 'what day is it today', 'what time is it in {time_zone}', 'time in {time_zone}'],
      effect: 'read',
      idempotent: true,
      timeout: 1_000,
      execute: ({ time_zone: asked }, t) => {
        if (asked === undefined) return timeIn(t.senderTimeZone ?? settings.timeZone);
        const zone = typeof asked === 'string' ? resolveZone(asked) : undefined;
        if (!zone) throw new Error(`"${String(asked)}" is not an IANA time zone name`);
        return timeIn(zone);
      },
    });
    if (settings.fetchUrl.enabled) {
      const fetcher = new UrlFetcher(settings.fetchUrl);
      ctx.onDispose(() => fetcher.close());
      ctx.tool({
        name: 'fetch_url',
        description: 'The text of a public web page (http or https), for reading what a link says.',
        parameters: { type: 'object', properties: { url: { type: 'string', description: 'the http(s) URL' } }, required: ['url'], additionalProperties: false },
        effect: 'read',
        idempotent: true,
        timeout: settings.fetchUrl.timeoutMs + 1_000,
        execute: async ({ url }, t) => {
          try {
            return await fetcher.fetch(String(url), t.signal);
          } catch (err) {
            // A refusal by policy says what was refused; a network failure says what failed.
            if (err instanceof FetchRefused) throw new Error(`not fetched: ${err.message}`);
            const cause = (err as { cause?: unknown }).cause;
            if (cause instanceof FetchRefused) throw new Error(`not fetched: ${cause.message}`);
            throw err;
          }
        },
      });
    }
  },
};
