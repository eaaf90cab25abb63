import { request } from 'undici';
import { loadConfig } from '../config/load.js';
import { asErrorCode, PincerError } from '../errors.js';

export interface ClientOptions {
  url?: string;
  token?: string;
  config?: string;
}

/** A small client of Pincer's HTTP API for the CLI. Errors keep the API's code and message. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  /** Where to reach the server: --url/PINCER_URL, else the local config's host and port. */
  static from(options: ClientOptions): ApiClient {
    const env = process.env;
    // An empty variable means unset, as in most shells' configs.
    let url = options.url || env.PINCER_URL || undefined;
    let token = options.token || env.PINCER_TOKEN || undefined;
    if (!url || !token) {
      const { config } = loadConfig({ file: options.config });
      const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
      url ??= `http://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
      token ??= config.auth.admin_tokens[0] ?? config.auth.tokens[0];
    }
    return new ApiClient(url.replace(/\/+$/, ''), token);
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const all: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.token) all.authorization = `Bearer ${this.token}`;
    if (body !== undefined) all['content-type'] = 'application/json';
    let response;
    try {
      response = await request(this.baseUrl + path, { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new PincerError('CLI_UNREACHABLE', `cannot reach Pincer at ${this.baseUrl} (${code ?? (err as Error).message}); is \`pincer start\` running? Set --url or PINCER_URL otherwise`);
    }
    const text = await response.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Plain text (e.g. /health).
    }
    if (response.statusCode >= 400) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      // The server's code when this CLI knows it; a newer server's code stays in the message.
      const code = asErrorCode(error?.code, 'CLI_HTTP_ERROR');
      const message = error?.message ?? `HTTP ${response.statusCode}: ${text.slice(0, 200)}`;
      throw new PincerError(code, error?.code && code !== error.code ? `${error.code}: ${message}` : message, { status: response.statusCode });
    }
    return { status: response.statusCode, body: parsed as T };
  }
}
