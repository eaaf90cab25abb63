/**
 * The Telegram fake's webhook sender: each update POSTed as JSON with the secret header, one
 * at a time so order holds; a refused one (non-2xx, or no answer) is retried before any later
 * one, and given up after `maxAttempts` ("a reasonable number of attempts"). A JSON answer
 * naming a `method` is run, as Telegram runs it.
 */

export type FakeUpdate = { update_id: number } & Record<string, unknown>;

export interface WebhookHost {
  /** The oldest update waiting, if any. */
  next(): FakeUpdate | undefined;
  /** Remove a delivered (or given up) update. */
  done(update: FakeUpdate): void;
  /** Run a method a webhook answered with. */
  reply(method: string, params: Record<string, unknown>): Promise<void>;
  now(): number;
}

export interface WebhookTarget {
  url: string;
  secret?: string;
  lastErrorDate?: number;
  lastErrorMessage?: string;
}

export class WebhookSender {
  target: WebhookTarget | undefined;
  readonly deliveries: Array<{ updateId: number; status: number | 'error'; at: number }> = [];
  private delivering = false;
  private retryPending = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly host: WebhookHost,
    private readonly retryMs: number,
    private readonly maxAttempts: number,
  ) {}

  set(url: string, secret: string | undefined): void {
    this.target = { url, ...(secret !== undefined ? { secret } : {}) };
    this.kick();
  }

  clear(): void {
    this.target = undefined;
    clearTimeout(this.retryTimer);
    this.retryPending = false;
  }

  stop(): void {
    this.stopped = true;
    this.clear();
    this.abort.abort();
  }

  /** Start delivering, unless a delivery or a retry's wait is under way (order is kept). */
  kick(): void {
    if (!this.delivering && !this.retryPending) void this.deliver(0);
  }

  private async deliver(attempt: number): Promise<void> {
    const target = this.target;
    const update = this.host.next();
    if (this.delivering || target === undefined || this.stopped || update === undefined) return;
    this.delivering = true;
    let delivered = false;
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(target.secret !== undefined ? { 'x-telegram-bot-api-secret-token': target.secret } : {}) },
        body: JSON.stringify(update),
        signal: this.abort.signal,
      });
      const text = await response.text();
      this.deliveries.push({ updateId: update.update_id, status: response.status, at: this.host.now() });
      if (response.ok) {
        delivered = true;
        await this.runReply(text);
      } else {
        target.lastErrorDate = Math.floor(this.host.now() / 1000);
        target.lastErrorMessage = `Wrong response from the webhook: ${response.status} ${response.statusText}`;
      }
    } catch (err) {
      if (this.stopped) return;
      this.deliveries.push({ updateId: update.update_id, status: 'error', at: this.host.now() });
      target.lastErrorDate = Math.floor(this.host.now() / 1000);
      target.lastErrorMessage = (err as Error).message;
    } finally {
      this.delivering = false;
    }
    if (delivered || attempt + 1 >= this.maxAttempts) {
      this.host.done(update);
      void this.deliver(0);
    } else {
      this.retryPending = true;
      this.retryTimer = setTimeout(() => {
        this.retryPending = false;
        void this.deliver(attempt + 1);
      }, this.retryMs * Math.min(2 ** attempt, 20));
    }
  }

  private async runReply(text: string): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof body !== 'object' || body === null || typeof (body as Record<string, unknown>)['method'] !== 'string') return;
    const { method, ...params } = body as Record<string, unknown> & { method: string };
    await this.host.reply(method, params);
  }
}
