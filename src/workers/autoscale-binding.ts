import type { Logger } from 'pino';
import type { PincerConfig } from '../config/schema.js';
import { memory } from '../metrics/host.js';
import type { PincerMetrics } from '../metrics/metrics.js';
import { Autoscaler, DEFAULT_POLICY } from './autoscaler.js';
import type { WorkerPool } from './worker-pool.js';

export interface Autoscaling {
  readonly lastChange: Autoscaler['lastChange'];
  stop(): void;
}

/**
 * Ticks the autoscaler from the metrics' one-second sample, which already holds what the
 * policy reads (the queue's counts, busy workers, event-loop lag, CPU): no second timer,
 * queue query or lag monitor (docs/operations.md#autoscaling).
 */
export function autoscaling(auto: PincerConfig['workers']['autoscale'], workers: WorkerPool, metrics: PincerMetrics, log: Logger): Autoscaling {
  const autoscaler = new Autoscaler(
    { ...DEFAULT_POLICY, min: auto.min, max: auto.max, upAfter: auto.up_after, downAfter: auto.down_after, maxLagMs: auto.max_event_loop_lag, maxCpu: auto.max_cpu, maxMemory: auto.max_memory },
    () => workers.concurrency,
    (n) => workers.setConcurrency(n),
  );
  let last = -Infinity;
  const off = metrics.onSample((sample, stats) => {
    if (sample.t - last < auto.interval) return;
    last = sample.t;
    const heap = memory();
    const decision = autoscaler.tick({ backlog: stats.byState.queued, busy: sample.busyWorkers, lagMs: sample.eventLoopLagMs, cpu: sample.cpuRatio, memory: heap.heapUsedBytes / heap.heapLimitBytes });
    if (decision) log.info({ event: 'workers.autoscale', ...decision }, `workers ${decision.from} -> ${decision.to}: ${decision.reason}`);
  });
  return {
    get lastChange() {
      return autoscaler.lastChange;
    },
    stop: off,
  };
}
