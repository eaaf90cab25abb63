import { cpus, totalmem } from 'node:os';
import { statfsSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

/**
 * The machine's CPU busy share from successive os.cpus() readings: what the seed's "CPU > 85 %"
 * alert means (the machine, not just this process, which process_cpu_seconds_total covers).
 */
export class HostCpu {
  private last = read();
  private ratio = 0;

  /** Busy share since the previous call (call it on a steady tick; the first call covers boot to now). */
  sample(): number {
    const now = read();
    const idle = now.idle - this.last.idle;
    const total = now.total - this.last.total;
    this.last = now;
    if (total > 0) this.ratio = Math.min(1, Math.max(0, 1 - idle / total));
    return this.ratio;
  }

  get current(): number {
    return this.ratio;
  }
}

function read(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const t = cpu.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

export interface DiskSpace {
  freeBytes: number;
  sizeBytes: number;
  freeRatio: number;
}

/** Space on the file system holding `dir`, as an unprivileged writer sees it (bavail). */
export function diskSpace(dir: string): DiskSpace {
  const fs = statfsSync(dir);
  const sizeBytes = fs.blocks * fs.bsize;
  const freeBytes = fs.bavail * fs.bsize;
  return { freeBytes, sizeBytes, freeRatio: sizeBytes > 0 ? freeBytes / sizeBytes : 0 };
}

export function memory(): { rssBytes: number; heapUsedBytes: number; heapLimitBytes: number; totalBytes: number } {
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed, heapLimitBytes: getHeapStatistics().heap_size_limit, totalBytes: totalmem() };
}
