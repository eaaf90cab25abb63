/**
 * Worker autoscaling (S3.2): the number of concurrent workers follows the backlog between
 * `min` and `max`, and backs off when the process shows strain. The policy, each tick:
 *
 * - **Strain** (event-loop lag over `maxLagMs`, machine CPU over `maxCpu`, or V8 heap use over
 *   `maxMemory`): never scale up. Severe strain (lag over twice the limit, or heap over the
 *   limit) steps down at once: more concurrent work would only deepen it.
 * - **Pressure** (messages waiting and at least `saturation` of the slots busy) for `upAfter`
 *   ticks in a row: scale up by `upFactor` (at least one more), up to `max`.
 * - **Slack** (at most `slack` of the slots busy; what waits then is not claimable yet) for
 *   `downAfter` ticks in a row: scale down by `downFactor` (at least one fewer), down to `min`.
 *
 * Hysteresis keeps it from flapping: the band between `saturation` and `slack` changes
 * nothing, streaks reset whenever the condition breaks or a change is made, and scaling down
 * waits much longer (`downAfter`) than scaling up (`upAfter`), so a bursty load is not shrunk
 * between bursts.
 */

export interface AutoscalePolicy {
  min: number;
  max: number;
  upAfter: number;
  downAfter: number;
  upFactor: number;
  downFactor: number;
  /** Share of slots busy that, with a backlog, counts as pressure. */
  saturation: number;
  /** Share of slots busy at or under which, with no backlog, counts as slack. */
  slack: number;
  maxLagMs: number;
  maxCpu: number;
  maxMemory: number;
}

export const DEFAULT_POLICY: Omit<AutoscalePolicy, 'min' | 'max'> = {
  upAfter: 2,
  downAfter: 10,
  upFactor: 1.5,
  downFactor: 0.75,
  saturation: 0.9,
  slack: 0.5,
  maxLagMs: 100,
  maxCpu: 0.95,
  maxMemory: 0.85,
};

export interface AutoscaleSignals {
  /** Messages ready and waiting for a worker. */
  backlog: number;
  /** Workers running a message now. */
  busy: number;
  /** Event-loop delay p99 over the last tick, ms. */
  lagMs: number;
  /** The machine's CPU busy share, 0..1. */
  cpu: number;
  /** V8 heap used over its limit, 0..1. */
  memory: number;
}

export interface AutoscaleDecision {
  from: number;
  to: number;
  reason: string;
}

export class Autoscaler {
  private pressureStreak = 0;
  private slackStreak = 0;
  private last: (AutoscaleDecision & { at: number }) | null = null;

  constructor(
    private readonly policy: AutoscalePolicy,
    private readonly concurrency: () => number,
    private readonly apply: (n: number) => void,
  ) {
    if (policy.min < 1 || policy.max < policy.min) throw new Error(`autoscale bounds must satisfy 1 <= min <= max (min ${policy.min}, max ${policy.max})`);
  }

  /** The last change made, for the dashboard and logs. */
  get lastChange(): (AutoscaleDecision & { at: number }) | null {
    return this.last;
  }

  /** One step of the policy; returns the change made, if any. */
  tick(signals: AutoscaleSignals, now = Date.now()): AutoscaleDecision | undefined {
    const { policy } = this;
    const current = this.concurrency();
    // Bounds first: a limit set outside them (by hand, or by an old config) is brought in.
    if (current < policy.min || current > policy.max) return this.change(current, Math.min(policy.max, Math.max(policy.min, current)), 'outside the configured bounds', now);

    const strain = this.strain(signals);
    if (strain) {
      this.pressureStreak = 0;
      this.slackStreak = 0;
      if (strain.severe && current > policy.min) return this.change(current, Math.max(policy.min, Math.min(current - 1, Math.floor(current * policy.downFactor))), strain.reason, now);
      return undefined;
    }

    const pressure = signals.backlog > 0 && signals.busy >= current * policy.saturation;
    // Slack ignores the backlog: with half the workers idle, whatever waits is not claimable yet
    // (behind its conversation's head, or due later), and more workers would not run it.
    const slack = signals.busy <= current * policy.slack;
    this.pressureStreak = pressure ? this.pressureStreak + 1 : 0;
    this.slackStreak = slack ? this.slackStreak + 1 : 0;

    if (this.pressureStreak >= policy.upAfter && current < policy.max) {
      const to = Math.min(policy.max, Math.max(current + 1, Math.ceil(current * policy.upFactor)));
      return this.change(current, to, `backlog of ${signals.backlog} with ${signals.busy}/${current} workers busy for ${this.pressureStreak} ticks`, now);
    }
    if (this.slackStreak >= policy.downAfter && current > policy.min) {
      const to = Math.max(policy.min, Math.min(current - 1, Math.floor(current * policy.downFactor)));
      return this.change(current, to, `only ${signals.busy}/${current} workers busy for ${this.slackStreak} ticks`, now);
    }
    return undefined;
  }

  private strain(s: AutoscaleSignals): { reason: string; severe: boolean } | undefined {
    const { policy } = this;
    if (s.memory > policy.maxMemory) return { reason: `heap ${(s.memory * 100).toFixed(0)} % of its limit (over ${(policy.maxMemory * 100).toFixed(0)} %)`, severe: true };
    if (s.lagMs > policy.maxLagMs) return { reason: `event-loop lag ${s.lagMs.toFixed(0)} ms (over ${policy.maxLagMs} ms)`, severe: s.lagMs > 2 * policy.maxLagMs };
    if (s.cpu > policy.maxCpu) return { reason: `CPU ${(s.cpu * 100).toFixed(0)} % (over ${(policy.maxCpu * 100).toFixed(0)} %)`, severe: false };
    return undefined;
  }

  private change(from: number, to: number, reason: string, now: number): AutoscaleDecision | undefined {
    this.pressureStreak = 0;
    this.slackStreak = 0;
    if (to === from) return undefined;
    this.apply(to);
    this.last = { from, to, reason, at: now };
    return { from, to, reason };
  }
}
