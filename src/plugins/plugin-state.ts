import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Enable/disable decisions made at run time (admin API, CLI) survive a restart: they are
 * kept in <data_dir>/plugins.json and win over `plugins.enabled` in the config file.
 */
export class PluginStateFile {
  private readonly file: string;
  private overrides: Record<string, boolean>;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'plugins.json');
    this.overrides = readOverrides(this.file);
  }

  isEnabled(name: string, enabledByConfig: readonly string[]): boolean {
    return this.overrides[name] ?? enabledByConfig.includes(name);
  }

  /** The run-time decision for this plugin, if an operator made one. */
  override(name: string): boolean | undefined {
    return this.overrides[name];
  }

  set(name: string, enabled: boolean): void {
    this.overrides = { ...this.overrides, [name]: enabled };
    mkdirSync(path.dirname(this.file), { recursive: true });
    // Write then rename, so a crash mid-write never leaves a half file.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ enabled: this.overrides }, null, 2) + '\n');
    renameSync(tmp, this.file);
  }
}

function readOverrides(file: string): Record<string, boolean> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as { enabled?: Record<string, unknown> };
    const out: Record<string, boolean> = {};
    for (const [name, value] of Object.entries(parsed.enabled ?? {})) if (typeof value === 'boolean') out[name] = value;
    return out;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or delete it`);
  }
}
