import { execFile } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { request } from 'undici';
import { errorMessage } from '../errors.js';

const run = promisify(execFile);

/**
 * Active health checks for open-source nginx, which has only passive ones: S2.5's cadence
 * (probe /health every `interval`, a node is down after `fall` failures in a row and up again
 * after `rise` passes), applied by rewriting an included `upstream` block and reloading nginx.
 * A reload is graceful (old workers finish their requests), so a flip costs nothing in flight.
 * HAProxy does the same natively (`inter 10s fall 3 rise 2`); this is for nginx users.
 */

export interface UpstreamHealthOptions {
  /** `host:port` of each node. */
  nodes: readonly string[];
  /** The file holding the upstream block, `include`d by nginx.conf. */
  file: string;
  /** The upstream's name. */
  name: string;
  intervalMs: number;
  timeoutMs: number;
  fall: number;
  rise: number;
  /** Command and arguments that make nginx re-read its configuration. */
  reload: readonly string[];
  log: Logger;
  /** Replaceable for tests; resolves true when the node's /health answered 200 OK. */
  probe?: (node: string, timeoutMs: number) => Promise<boolean>;
}

interface NodeState {
  node: string;
  up: boolean;
  /** Consecutive results against the current state: failures while up, passes while down. */
  streak: number;
}

export class UpstreamHealth {
  private readonly states: NodeState[];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  /** A state change that nginx has not been given yet (the write or the reload failed): retried each round. */
  private dirty = false;

  constructor(private readonly options: UpstreamHealthOptions) {
    if (options.nodes.length === 0) throw new Error('upstream health: no nodes to check');
    // Like HAProxy, nodes start up: a fresh balancer sends traffic until probes say otherwise.
    this.states = options.nodes.map((node) => ({ node, up: true, streak: 0 }));
  }

  get view(): Array<{ node: string; up: boolean }> {
    return this.states.map(({ node, up }) => ({ node, up }));
  }

  /** Write the initial block (every node up), then probe on the interval. */
  async start(): Promise<void> {
    await this.write();
    this.timer = setInterval(() => {
      this.checking ??= this.check()
        .catch((err: unknown) => this.options.log.error({ event: 'upstream.check_failed', err: errorMessage(err) }, `health round failed: ${errorMessage(err)}`))
        .finally(() => (this.checking = undefined));
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.checking;
  }

  /** One round of probes; rewrites and reloads when a node changed state. */
  async check(): Promise<void> {
    const probe = this.options.probe ?? probeHealth;
    const results = await Promise.all(this.states.map((s) => probe(s.node, this.options.timeoutMs).catch(() => false)));
    let changed = false;
    results.forEach((ok, i) => {
      const s = this.states[i] as NodeState;
      if (ok === s.up) {
        s.streak = 0;
        return;
      }
      s.streak++;
      if (s.streak >= (s.up ? this.options.fall : this.options.rise)) {
        s.up = !s.up;
        s.streak = 0;
        changed = true;
        this.options.log.warn({ event: 'upstream.state', node: s.node, up: s.up }, `${s.node} is ${s.up ? 'up' : 'down'} (${s.up ? this.options.rise : this.options.fall} probes of /health in a row)`);
      }
    });
    if (changed) this.dirty = true;
    if (!this.dirty) return;
    try {
      await this.write();
      const [command, ...args] = this.options.reload;
      await run(command as string, args);
      this.dirty = false;
    } catch (err) {
      // Kept dirty: the next round writes and reloads again, so nginx is not left stale.
      this.options.log.error({ event: 'upstream.reload_failed', err: errorMessage(err) }, `could not update nginx (will retry next round): ${errorMessage(err)}`);
    }
  }

  /** nginx refuses an upstream with no servers: when every node is down they all stay listed, marked down but one, so nginx still answers 502 rather than failing to load. */
  render(): string {
    const anyUp = this.states.some((s) => s.up);
    const lines = this.states.map((s, i) => `  server ${s.node}${s.up || (!anyUp && i === 0) ? ' max_fails=1 fail_timeout=2s' : ' down'};`);
    return `# Written by pincer upstream-check; edits are overwritten.\nupstream ${this.options.name} {\n  least_conn;\n${lines.join('\n')}\n  keepalive 32;\n}\n`;
  }

  private async write(): Promise<void> {
    // Write then rename: nginx never reads a half-written file.
    const temp = `${this.options.file}.tmp`;
    await writeFile(temp, this.render());
    await rename(temp, this.options.file);
  }
}

async function probeHealth(node: string, timeoutMs: number): Promise<boolean> {
  const res = await request(`http://${node}/health`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.body.text();
  return res.statusCode === 200 && body.trim() === 'OK';
}
