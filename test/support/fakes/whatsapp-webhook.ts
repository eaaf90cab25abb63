/**
 * The WhatsApp fake's webhook side: Meta's calls to an app's webhook URL. `verify` is the GET
 * handshake Meta makes when the URL is saved (hub.mode=subscribe, hub.verify_token,
 * hub.challenge: the answer must be the challenge); `deliver` POSTs a change notification
 * signed with X-Hub-Signature-256 (sha256=HMAC-SHA256(app secret, body)), retrying a non-2xx
 * or a failed connection as Meta does (with backoff; the real one for up to 7 days).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';

export interface WebhookAttempt {
  /** The HTTP status, or "error" when no answer came. */
  status: number | 'error';
  at: number;
}

export interface WebhookDelivery {
  body: string;
  attempts: WebhookAttempt[];
  /** Answered 2xx. */
  acked: boolean;
}

export interface VerifyResult {
  status: number;
  body: string;
  challenge: string;
  /** Meta accepts the URL: 200 and the challenge echoed exactly. */
  ok: boolean;
}

export function hubSignature(appSecret: string, body: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body, 'utf8').digest('hex')}`;
}

export class WhatsAppWebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  /** Aborted by `close`: retries waiting for their turn give up. */
  private readonly closing = new AbortController();

  constructor(
    private readonly appSecret: () => string,
    private readonly retryMs = 200,
    private readonly maxAttempts = 5,
  ) {
    // Every delivery waiting to retry listens on it: many at once by design.
    setMaxListeners(0, this.closing.signal);
  }

  /** Stop retrying (the fake is going away); a delivery in its wait ends unacked. */
  close(): void {
    this.closing.abort();
  }

  async verify(url: string, verifyToken: string): Promise<VerifyResult> {
    const challenge = String(randomBytes(4).readUInt32BE());
    const query = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': verifyToken, 'hub.challenge': challenge });
    const res = await fetch(`${url}?${query.toString()}`);
    const body = await res.text();
    return { status: res.status, body, challenge, ok: res.status === 200 && body === challenge };
  }

  /** One signed POST, no retry; `signature` overrides the header (a forged call). */
  async post(url: string, body: string, signature?: string | null): Promise<number | 'error'> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'facebookexternalua' };
    if (signature !== null) headers['x-hub-signature-256'] = signature ?? hubSignature(this.appSecret(), body);
    try {
      const res = await fetch(url, { method: 'POST', headers, body });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 'error';
    }
  }

  /** POST until a 2xx or `maxAttempts`, waiting `retryMs` doubled after each failure. */
  async deliver(url: string, payload: unknown, options: { maxAttempts?: number } = {}): Promise<WebhookDelivery> {
    const body = JSON.stringify(payload);
    const delivery: WebhookDelivery = { body, attempts: [], acked: false };
    this.deliveries.push(delivery);
    const max = options.maxAttempts ?? this.maxAttempts;
    let wait = this.retryMs;
    for (let attempt = 1; attempt <= max && !this.closing.signal.aborted; attempt++) {
      const status = await this.post(url, body);
      delivery.attempts.push({ status, at: Date.now() });
      if (typeof status === 'number' && status >= 200 && status < 300) {
        delivery.acked = true;
        break;
      }
      if (attempt < max) await this.pause(wait);
      wait *= 2;
    }
    return delivery;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.closing.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}
