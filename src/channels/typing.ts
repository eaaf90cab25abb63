/**
 * One typing indicator per turn: shown at the claim, refreshed before it fades, stopped at the
 * final delivery or when the turn fails, and never past `maxMs`. It is sealed once stopped, so
 * a late timer does nothing; errors back off (1 s doubling to 30 s) and never fail the turn.
 */
export class TypingLifecycle {
  private timer: NodeJS.Timeout | undefined;
  private sealed = false;
  private failures = 0;
  private readonly startedAt: number;
  private readonly controller = new AbortController();

  constructor(
    private readonly show: (state: 'start' | 'stop', signal: AbortSignal) => Promise<boolean>,
    private readonly settings: { intervalMs: number; maxMs: number },
    private readonly now: () => number,
  ) {
    this.startedAt = now();
    void this.tick();
  }

  get stopped(): boolean {
    return this.sealed;
  }

  stop(): void {
    if (this.sealed) return;
    this.sealed = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller.abort();
    void this.show('stop', new AbortController().signal).catch(() => false);
  }

  private async tick(): Promise<void> {
    if (this.sealed) return;
    if (this.now() - this.startedAt >= this.settings.maxMs) return this.stop();
    const ok = await this.show('start', this.controller.signal).catch(() => false);
    if (this.sealed) return;
    this.failures = ok ? 0 : this.failures + 1;
    if (this.failures > 5) return this.stop();
    const wait = ok ? this.settings.intervalMs : Math.min(30_000, 1_000 * 2 ** (this.failures - 1));
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }
}
