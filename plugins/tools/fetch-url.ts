/**
 * fetch_url: the text of a web page, for the model. Every connection goes through a DNS
 * lookup that refuses private addresses (addresses.ts), redirects are followed by hand so each
 * hop is checked again, at most `maxRedirects`; the body is read up to `maxBytes` and the
 * whole fetch is bounded by `timeoutMs`. HTML is reduced to its text.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import type { JsonObject } from 'pincer/plugin';
import { AddressPolicy } from './addresses.js';

export interface FetchSettings {
  maxBytes: number;
  maxChars: number;
  maxRedirects: number;
  timeoutMs: number;
  allowNetworks: string[];
}

/** Refused by policy, not by the network: the model is told why (the tool throws it). */
export class FetchRefused extends Error {
  override readonly name = 'FetchRefused';
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|xhtml\+xml|rss\+xml|atom\+xml|ld\+json)|[^;]*\+json|[^;]*\+xml)/i;

/** Visible text of an HTML page: scripts, styles and tags gone, entities decoded, blank runs collapsed. */
export function htmlText(html: string): string {
  return html
    .replace(/<(script|style|noscript|template|svg)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(br|\/p|\/div|\/li|\/h[1-6]|\/tr)\b[^>]*>/gi, '\n')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&')
    .replace(/[ \t\f\v]+/g, ' ')
    .replace(/ *\n[\s]*/g, '\n')
    .trim();
}

export class UrlFetcher {
  private readonly policy: AddressPolicy;
  private readonly agent: Agent;

  constructor(private readonly settings: FetchSettings) {
    this.policy = new AddressPolicy(settings.allowNetworks);
    const checked: LookupFunction = (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err, '', 0);
        for (const a of addresses) {
          const why = this.policy.refusal(a.address);
          if (why !== undefined) return callback(Object.assign(new FetchRefused(`${hostname} resolves to ${why}`), { code: 'EREFUSEDADDRESS' }), '', 0);
        }
        const first = addresses[0];
        if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        callback(null, first.address, first.family);
      });
    };
    this.agent = new Agent({ connect: { lookup: checked, timeout: settings.timeoutMs }, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The page at `url` as text, or a refusal (thrown, with the reason) for what may not be fetched. */
  async fetch(url: string, signal: AbortSignal): Promise<JsonObject> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.settings.timeoutMs)]);
    let current = this.checkUrl(url);
    for (let hop = 0; ; hop++) {
      const answer = await request(current, {
        dispatcher: this.agent,
        method: 'GET',
        signal: deadline,
        headers: { 'user-agent': 'Pincer fetch_url (+https://github.com/pincer)', accept: 'text/html,text/plain,application/json;q=0.9,*/*;q=0.1' },
      });
      if (answer.statusCode >= 300 && answer.statusCode < 400 && answer.headers['location'] !== undefined) {
        await answer.body.dump();
        if (hop >= this.settings.maxRedirects) throw new FetchRefused(`more than ${this.settings.maxRedirects} redirects`);
        current = this.checkUrl(new URL(String(answer.headers['location']), current).toString());
        continue;
      }
      const type = String(answer.headers['content-type'] ?? 'application/octet-stream');
      if (!TEXT_TYPES.test(type)) {
        await answer.body.dump();
        throw new FetchRefused(`${current.toString()} is ${type.split(';')[0]}, not text`);
      }
      const { text: raw, cut } = await this.readCapped(answer.body);
      const text = /html/i.test(type) ? htmlText(raw) : raw;
      const truncated = cut || text.length > this.settings.maxChars;
      return { url: current.toString(), status: answer.statusCode, contentType: type.split(';')[0]?.trim() ?? type, text: text.slice(0, this.settings.maxChars), truncated };
    }
  }

  /** http(s) only, no credentials, and an IP literal checked here (no lookup runs for one). */
  private checkUrl(text: string): URL {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new FetchRefused(`"${text.slice(0, 200)}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FetchRefused(`${url.protocol} URLs are not fetched, only http and https`);
    if (url.username || url.password) throw new FetchRefused('URLs with credentials are not fetched');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const why = this.policy.refusal(host);
      if (why !== undefined) throw new FetchRefused(why);
    }
    return url;
  }

  private async readCapped(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<{ text: string; cut: boolean }> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      const room = this.settings.maxBytes - size;
      if (chunk.length >= room) {
        chunks.push(chunk.subarray(0, room));
        body.destroy();
        return { text: Buffer.concat(chunks).toString('utf8'), cut: true };
      }
      chunks.push(chunk);
      size += chunk.length;
    }
    return { text: Buffer.concat(chunks).toString('utf8'), cut: false };
  }
}
