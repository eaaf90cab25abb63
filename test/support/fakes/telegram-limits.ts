/**
 * The Telegram fake's flood control, after the python-telegram-bot wiki's "Avoiding flood
 * limits" (Telegram does not publish exact numbers): about one message a second per chat,
 * twenty a minute per group, thirty a second in all. Past a limit the fake answers 429 with
 * retry_after, and remembers the time it announced: a request to that scope before then is a
 * violation, which tests assert never happens.
 */

export interface FakeRate {
  limit: number;
  intervalMs: number;
}

export interface FakeRateLimits {
  perChat: FakeRate | false;
  perGroup: FakeRate | false;
  global: FakeRate | false;
}

export const TELEGRAM_RATE_LIMITS: FakeRateLimits = {
  perChat: { limit: 1, intervalMs: 1000 },
  perGroup: { limit: 20, intervalMs: 60_000 },
  global: { limit: 30, intervalMs: 1000 },
};

export interface Violation {
  method: string;
  scope: string;
  at: number;
  /** The time the fake's 429 said to wait for. */
  allowedAt: number;
}

export type RateVerdict = { ok: true } | { ok: false; retryAfter: number };

export class FloodControl {
  readonly violations: Violation[] = [];
  private readonly windows = new Map<string, number[]>();
  private readonly deadlines = new Map<string, number>();

  constructor(
    private readonly limits: FakeRateLimits,
    private readonly now: () => number,
  ) {}

  private scopes(chatId: string | undefined, isGroup: boolean): Array<{ scope: string; rate: FakeRate | false }> {
    const out: Array<{ scope: string; rate: FakeRate | false }> = [{ scope: 'global', rate: this.limits.global }];
    if (chatId !== undefined) {
      out.push({ scope: `chat:${chatId}`, rate: this.limits.perChat });
      if (isGroup) out.push({ scope: `group:${chatId}`, rate: this.limits.perGroup });
    }
    return out;
  }

  /** Record a 429 the fake was scripted to give, so a request before its end is a violation too. */
  announce(scope: string, retryAfterSeconds: number): void {
    this.deadlines.set(scope, Math.max(this.deadlines.get(scope) ?? 0, this.now() + retryAfterSeconds * 1000));
  }

  /**
   * Whether one rate-limited call may pass now. It is counted (`count`) only once accepted:
   * a call Telegram refuses for its content uses no quota.
   */
  admit(method: string, chatId: string | undefined, isGroup: boolean): RateVerdict {
    const now = this.now();
    const scopes = this.scopes(chatId, isGroup);
    let wait = 0;
    for (const { scope } of scopes) {
      const deadline = this.deadlines.get(scope) ?? 0;
      if (deadline > now) {
        this.violations.push({ method, scope, at: now, allowedAt: deadline });
        wait = Math.max(wait, deadline - now);
      }
    }
    if (wait > 0) return { ok: false, retryAfter: Math.max(1, Math.ceil(wait / 1000)) };
    const full: string[] = [];
    for (const { scope, rate } of scopes) {
      if (rate === false) continue;
      const window = (this.windows.get(scope) ?? []).filter((t) => t > now - rate.intervalMs);
      this.windows.set(scope, window);
      if (window.length >= rate.limit) {
        wait = Math.max(wait, window[0]! + rate.intervalMs - now);
        full.push(scope);
      }
    }
    if (wait === 0) return { ok: true };
    const retryAfter = Math.max(1, Math.ceil(wait / 1000));
    for (const scope of full) this.announce(scope, retryAfter);
    return { ok: false, retryAfter };
  }

  /** An accepted call uses one unit of every scope's quota. */
  count(chatId: string | undefined, isGroup: boolean): void {
    const now = this.now();
    for (const { scope, rate } of this.scopes(chatId, isGroup)) {
      if (rate === false) continue;
      const window = this.windows.get(scope) ?? [];
      window.push(now);
      this.windows.set(scope, window);
    }
  }
}
