import type { PluginDefinition } from 'pincer/plugin';
import { FetchRefused, UrlFetcher } from './fetch-url.js';
import { toolsSettings } from './settings.js';
import { isTimeZone, timeIn } from './time.js';

/**
 * First-party tools for the model's tool loop (docs/tools.md): `current_time`, and
 * `fetch_url` when `fetch_url.enabled` is set.
 */
export const plugin: PluginDefinition = {
  setup(ctx) {
    const settings = toolsSettings(ctx.config);
    if (!isTimeZone(settings.timeZone)) throw new TypeError(`time_zone: "${settings.timeZone}" is not an IANA time zone (Europe/Berlin, America/New_York)`);
    ctx.tool({
      name: 'current_time',
      description: 'The current date, time and weekday. Pass time_zone (IANA, e.g. "Asia/Tokyo") for another place than the default.',
      parameters: { type: 'object', properties: { time_zone: { type: 'string', description: 'IANA time zone name' } }, additionalProperties: false },
      effect: 'read',
      idempotent: true,
      timeout: 1_000,
      execute: ({ time_zone: zone }) => {
        if (zone !== undefined && (typeof zone !== 'string' || !isTimeZone(zone))) throw new Error(`"${String(zone)}" is not an IANA time zone name`);
        return timeIn(typeof zone === 'string' ? zone : settings.timeZone);
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
