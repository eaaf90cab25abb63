import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/**
 * Runs a Debian-packaged tool the tests use for real (promtool, nginx, haproxy, ...). A missing
 * tool fails the test, never skips it, and says which package .ci/system-deps installs.
 * Kept apart from index.ts, whose helpers load the whole server.
 */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

export function tool(command: string, args: string[], debianPackage: string, options: { cwd?: string; input?: string } = {}): { code: number | null; output: string } {
  // nginx, haproxy and keepalived live in /usr/sbin, which a non-root PATH may lack.
  const resolved = !onPath(command) && existsSync(`/usr/sbin/${command}`) ? `/usr/sbin/${command}` : command;
  const result = spawnSync(resolved, args, { encoding: 'utf8', timeout: 60_000, ...(options.cwd && { cwd: options.cwd }), ...(options.input !== undefined && { input: options.input }) });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(`${command} is not installed: \`apt-get install -y --no-install-recommends ${debianPackage}\` (what .ci/system-deps does; it keeps any service from starting).`);
  }
  if (result.error) throw result.error;
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}
