import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from './index.js';
import { ROOT } from './process.js';

/**
 * deploy/nginx/nginx.conf as shipped, changed only where a test host differs from the compose
 * network: the upstream block becomes an include of `pincer upstream-check`'s file (the active
 * S2.5 checks docs/deploy.md describes), it listens on a loopback port, and its pid, error log
 * and temp files live under `prefix`. Each change must apply, so a reshaped deploy file fails loudly.
 */
export function shippedNginxConfig(options: { prefix: string; upstreamFile: string; port: number }): string {
  let text = readFileSync(path.join(ROOT, 'deploy', 'nginx', 'nginx.conf'), 'utf8');
  const replace = (pattern: RegExp, by: string) => {
    if (!pattern.test(text)) throw new Error(`deploy/nginx/nginx.conf no longer has ${pattern}; update test/support/nginx.ts`);
    text = text.replace(pattern, by);
  };
  replace(/^pid [^;]+;/m, `pid ${options.prefix}/nginx.pid;`);
  // /dev/stderr cannot be opened when stderr is a socket, as it is for a child of Node.
  replace(/^error_log \/dev\/stderr (\w+);/m, `error_log ${options.prefix}/error.log $1;`);
  replace(/^(\s*)access_log \/dev\/stdout;/m, '$1access_log off;');
  replace(/^(\s*)upstream pincer \{[^}]*\}/m, `$1include ${options.upstreamFile};`);
  replace(/^(\s*)listen 80 default_server;\s*\n\s*listen \[::\]:80 default_server;/m, `$1listen 127.0.0.1:${options.port};`);
  replace(
    /^http \{/m,
    `http {\n  client_body_temp_path ${options.prefix}/client_body;\n  proxy_temp_path ${options.prefix}/proxy;\n  fastcgi_temp_path ${options.prefix}/fastcgi;\n  uwsgi_temp_path ${options.prefix}/uwsgi;\n  scgi_temp_path ${options.prefix}/scgi;`,
  );
  return text;
}

/**
 * Writes the shipped config under `prefix` (see shippedNginxConfig) and returns its path.
 * nginx's workers run as nobody and buffer bodies over 16 KB in `<prefix>/client_body`, so
 * every folder down to the prefix is made reachable for them (temporary folders are 0700).
 */
export function writeShippedNginxConfig(options: { prefix: string; upstreamFile: string; port: number }): string {
  mkdirSync(options.prefix, { recursive: true });
  for (let dir = options.prefix; dir !== path.dirname(dir) && dir !== tmpdir(); dir = path.dirname(dir)) chmodSync(dir, 0o755);
  const conf = path.join(options.prefix, 'nginx.conf');
  writeFileSync(conf, shippedNginxConfig(options));
  return conf;
}

/** Runs nginx in the foreground on a written config; resolves once it answers /lb-health, with its base URL. */
export async function startNginx(prefix: string, conf: string, port: number, output: string[] = []): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => output.push(`nginx: ${d.toString()}`));
  const base = `http://127.0.0.1:${port}`;
  try {
    await eventually(async () => (await fetch(`${base}/lb-health`).catch(() => undefined))?.status, (s) => s === 200, 10_000, 'nginx answering');
  } catch (err) {
    child.kill('SIGTERM');
    throw new Error(`${String(err)}; nginx said: ${output.filter((l) => l.startsWith('nginx')).join(' ')}`);
  }
  return { child, base };
}
