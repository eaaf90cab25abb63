/** The tools plugin's settings (plugins.config.tools), already checked against config.json. */
import type { JsonObject } from 'pincer/plugin';
import type { FetchSettings } from './fetch-url.js';

export interface ToolsSettings {
  timeZone: string;
  fetchUrl: (FetchSettings & { enabled: boolean }) | { enabled: false };
}

export function toolsSettings(config: JsonObject): ToolsSettings {
  const fetch = (config['fetch_url'] ?? {}) as JsonObject;
  const num = (key: string, fallback: number): number => (typeof fetch[key] === 'number' ? (fetch[key] as number) : fallback);
  return {
    timeZone: typeof config['time_zone'] === 'string' ? config['time_zone'] : 'UTC',
    fetchUrl:
      fetch['enabled'] === true
        ? {
            enabled: true,
            maxBytes: num('max_bytes', 1_048_576),
            maxChars: num('max_chars', 12_000),
            maxRedirects: num('max_redirects', 3),
            timeoutMs: num('timeout_ms', 10_000),
            allowNetworks: Array.isArray(fetch['allow_networks']) ? fetch['allow_networks'].filter((n): n is string => typeof n === 'string') : [],
          }
        : { enabled: false },
  };
}
