import type { Channel } from '../pipeline/types.js';
import type { ChannelAccount, ChannelTarget, RenderedPart } from '../plugins/sdk.js';
import type { ChannelMetrics } from './metrics.js';
import type { RateScheduler } from './outbox/rate-scheduler.js';

export interface PreviewSettings {
  throttleMs: number;
  minInitialChars: number;
  /** Without this much text, the first preview still goes out this long after the first token. */
  firstAfterMs: number;
  maxFailures: number;
}

/**
 * A best-effort preview of a reply while the model writes it: sent once there is enough text,
 * then edited at most once per `throttleMs`, never with unchanged text. A 429 or
 * `maxFailures` failures in a row end the previews of the turn (never a new placeholder). A
 * preview past the platform's limit freezes and the text continues in a new message. The
 * final reply is not sent from here: it is the durable delivery, which edits these messages.
 */
export class PreviewStream {
  private text = '';
  /** Messages sent so far; all but the last are frozen. */
  private readonly messages: Array<{ id: string; shown: string }> = [];
  private firstTokenAt: number | undefined;
  private lastEditAt = 0;
  private failures = 0;
  private stopped = false;
  private inflight: Promise<void> | undefined;
  /** The text the last update showed; more has arrived when `text` differs. */
  private planned = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly controller = new AbortController();

  constructor(
    private readonly adapter: Channel,
    private readonly account: ChannelAccount,
    private readonly target: ChannelTarget,
    private readonly rates: { scheduler: RateScheduler; scope: string },
    private readonly settings: PreviewSettings,
    private readonly metrics: ChannelMetrics,
    private readonly now: () => number,
  ) {}

  push(delta: string): void {
    if (this.stopped) return;
    this.text += delta;
    this.firstTokenAt ??= this.now();
    this.schedule();
  }

  /** Stop previewing; resolves with the preview messages' ids once any call in flight ended. */
  async close(): Promise<string[]> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inflight;
    return this.messages.map((m) => m.id);
  }

  abandon(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller.abort();
  }

  private schedule(): void {
    if (this.stopped || this.inflight || this.timer) return;
    const now = this.now();
    let due: number;
    if (this.messages.length === 0) {
      due = this.text.length >= this.settings.minInitialChars ? now : (this.firstTokenAt ?? now) + this.settings.firstAfterMs;
    } else due = this.lastEditAt + this.settings.throttleMs;
    const wait = Math.max(0, due - now);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inflight = this.update().finally(() => {
        this.inflight = undefined;
        if (!this.stopped && this.text !== this.planned) this.schedule();
      });
    }, wait);
    this.timer.unref();
  }

  /**
   * Message i of the preview shows part i of the whole text so far, so a message that rolled
   * over is never touched again and the final delivery's part i edits message i.
   */
  private async update(): Promise<void> {
    if (this.stopped) return;
    this.planned = this.text;
    const plan = await this.adapter.plan(this.planned, this.target, this.account).catch(() => undefined);
    if (!plan || plan.parts.length === 0 || this.stopped) return;
    const last = this.messages.length - 1;
    const live = last >= 0 ? this.messages[last] : undefined;
    const liveText = live ? plan.parts[last]?.text : undefined;
    if (live && liveText !== undefined && liveText !== live.shown) {
      if (this.rates.scheduler.take(this.rates.scope, plan.buckets) > 0) return this.skip();
      if (!(await this.call(live.id, plan.parts[last] as RenderedPart))) return;
      live.shown = liveText;
    } else if (live && plan.parts.length <= this.messages.length) return this.skip();
    const next = plan.parts[this.messages.length];
    if (!next || this.stopped) return;
    if (this.rates.scheduler.take(this.rates.scope, plan.buckets) > 0) return this.skip();
    const id = await this.call(undefined, next);
    if (id !== undefined) this.messages.push({ id, shown: next.text });
  }

  private async call(editId: string | undefined, part: RenderedPart): Promise<string | undefined> {
    const channel = this.adapter.name;
    const target = this.messages.length === 0 ? this.target : { conversation: this.target.conversation };
    const pending = editId !== undefined ? this.adapter.edit(editId, part, target, this.account, this.controller.signal) : this.adapter.send(part, target, this.account, this.controller.signal);
    const result = await pending.catch(() => undefined);
    this.lastEditAt = this.now();
    if (result?.ok) {
      this.failures = 0;
      this.metrics.previews.inc({ channel, outcome: editId !== undefined ? 'edited' : 'sent' });
      return editId ?? result.platformMessageId ?? '';
    }
    this.failures++;
    const limited = result?.ok === false && result.errorClass === 'rate_limited';
    if (limited || this.failures >= this.settings.maxFailures) {
      this.stopped = true;
      this.metrics.previews.inc({ channel, outcome: 'suspended' });
    } else this.metrics.previews.inc({ channel, outcome: 'failed' });
    return undefined;
  }

  private skip(): void {
    this.metrics.previews.inc({ channel: this.adapter.name, outcome: 'skipped' });
  }
}
