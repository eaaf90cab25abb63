// The deployment files in deploy/ (Dockerfile, docker-compose.yml, nginx, HAProxy, keepalived)
// checked with what runs here: nginx -t, haproxy -c, keepalived -t, sh -n and a run of the
// health-check script, the Compose Specification's JSON Schema, and Pincer's own config
// loader. Docker itself cannot run on these machines: images are never built here (see
// docs/deploy.md, "What was exercised here and what was not").
import { execFile, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseDocument } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { onPath, tool } from '../support/system-tool.js';

// Not test/support/index.ts: its helpers load the whole server, and nothing here needs it.
const ROOT = path.resolve(import.meta.dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const DOCKERFILE = path.join(DEPLOY, 'Dockerfile');
const COMPOSE = path.join(DEPLOY, 'docker-compose.yml');
const NGINX = path.join(DEPLOY, 'nginx/nginx.conf');
const HAPROXY = path.join(DEPLOY, 'haproxy/haproxy.cfg');
const KEEPALIVED = path.join(DEPLOY, 'keepalived/keepalived.conf');
const CHECK_SCRIPT = path.join(DEPLOY, 'keepalived/check_pincer.sh');
const COMPOSE_SCHEMA = path.join(ROOT, 'test/fixtures/compose-spec/compose-spec.json');
const NODES = ['pincer1', 'pincer2', 'pincer3'];

/** Async, so that an HTTP server in this process can answer while the child runs. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 30_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'pincer-deploy-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A fresh folder under the suite's temp folder. */
function scratch(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buffer = '';
  let start = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trimEnd();
    if (!buffer && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (buffer && line.trimStart().startsWith('#')) continue; // a comment inside a continuation
    if (!buffer) start = i + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      continue;
    }
    buffer += line;
    const match = /^\s*(\w+)\s+([\s\S]*)$/.exec(buffer);
    if (match) out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
    buffer = '';
  }
  return out;
}

/** The instructions of each stage, split at FROM. */
function stages(instructions: Instruction[]): Array<{ from: Instruction; body: Instruction[] }> {
  const result: Array<{ from: Instruction; body: Instruction[] }> = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') result.push({ from: ins, body: [] });
    else result.at(-1)?.body.push(ins);
  }
  return result;
}

/** COPY's flags, sources and destination (shell form; the JSON form is not used here). */
function copyParts(args: string): { flags: string[]; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  return { flags, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** A .dockerignore pattern as a regular expression over slash-separated relative paths. */
function ignoreRegex(pattern: string): RegExp {
  let source = '';
  const p = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') {
      source += '.*';
      i++;
      if (p[i + 1] === '/') i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern that names a folder leaves out everything in it.
  return new RegExp(`^${source}(?:/.*)?$`);
}

function ignoredByDockerignore(relative: string, patterns: string[]): boolean {
  let ignored = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (ignoreRegex(negated ? pattern.slice(1) : pattern).test(relative)) ignored = !negated;
  }
  return ignored;
}

describe('deploy/Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const instructions = dockerInstructions(text);
  const all = stages(instructions);
  const runtime = all.at(-1)!;
  const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const pluginDirs = readdirSync(path.join(ROOT, 'plugins')).filter((name) => existsSync(path.join(ROOT, 'plugins', name, 'package.json')));

  it('is multi-stage: a build stage, then a node:20 bookworm-slim runtime', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all[0]!.from.args).toMatch(/ AS build$/i);
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    expect(base).toBe('node:20-bookworm-slim');
    expect(runtime.from.args).toMatch(/^\$\{NODE_IMAGE\} AS runtime$/i);
  });

  it('builds with npm ci, compiles better-sqlite3 with python3, make and g++, then prunes dev dependencies', () => {
    const build = all[0]!.body.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
    expect(build).toMatch(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    expect(build).toContain('npm ci');
    expect(build).toContain('npm rebuild better-sqlite3');
    expect(build).toContain('npm run build');
    expect(build).toContain('npm prune --omit=dev');
  });

  it('runs as a non-root user, with the S2.5 HEALTHCHECK on /health, port 7700 and /data', () => {
    const users = runtime.body.filter((i) => i.keyword === 'USER');
    expect(users.length, 'USER in the final stage').toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!;
    expect(['root', '0']).not.toContain(user);
    // The numeric user is the one the runtime stage creates.
    expect(runtime.body.some((i) => i.keyword === 'RUN' && i.args.includes(`useradd --system --uid ${user}`))).toBe(true);

    const health = runtime.body.find((i) => i.keyword === 'HEALTHCHECK');
    expect(health?.args).toContain('--interval=10s');
    expect(health?.args).toContain('--retries=3');
    expect(health?.args).toMatch(/CMD \["node", "-e", ".*\/health.*"\]/);
    expect(health?.args).not.toMatch(/curl|wget/); // neither is in the slim image

    expect(runtime.body.find((i) => i.keyword === 'EXPOSE')?.args).toBe('7700');
    expect(runtime.body.find((i) => i.keyword === 'VOLUME')?.args).toBe('/data');
    const env = runtime.body.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/PINCER_HOST=0\.0\.0\.0/);
    expect(env).toMatch(/PINCER_DATA_DIR=\/data/);
    expect(runtime.body.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe('["node", "dist/src/cli/main.js"]');
    expect(runtime.body.find((i) => i.keyword === 'CMD')?.args).toBe('["start"]');
    expect(existsSync(path.join(ROOT, 'src/cli/main.ts')), 'dist/src/cli/main.js is built from src/cli/main.ts').toBe(true);
  });

  it('installs Apertium only when asked (build arg WITH_APERTIUM)', () => {
    expect(runtime.body.find((i) => i.keyword === 'ARG')?.args).toBe('WITH_APERTIUM=false');
    const install = runtime.body.find((i) => i.keyword === 'RUN')!.args;
    expect(install).toMatch(/if \[ "\$WITH_APERTIUM" = "true" \]; then .*apertium apertium-eng-spa/);
  });

  it('copies from the build context only paths that exist and that .dockerignore does not leave out', () => {
    const copies = instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    expect(copies.filter((i) => i.keyword === 'ADD'), 'COPY, not ADD').toEqual([]);
    const fromContext = copies.filter((i) => !copyParts(i.args).flags.some((f) => f.startsWith('--from=')));
    expect(fromContext.length).toBeGreaterThan(3);
    for (const ins of fromContext) {
      for (const source of copyParts(ins.args).sources) {
        const relative = source.replace(/\/$/, '');
        expect(existsSync(path.join(ROOT, relative)), `line ${ins.line}: ${source} exists in the repository`).toBe(true);
        expect(ignoredByDockerignore(relative, dockerignore), `line ${ins.line}: ${source} is not in .dockerignore`).toBe(false);
      }
    }
    // What the build needs is all copied: the lock file, the sources `npm run build` compiles
    // (tsconfig.build.json's include), and the workspaces package-lock.json names.
    const copied = fromContext.flatMap((i) => copyParts(i.args).sources.map((s) => s.replace(/\/$/, '')));
    const buildConfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[]; extends: string };
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'plugins', ...buildConfig.include]) {
      expect(copied, `the build stage copies ${needed}`).toContain(needed);
    }
  });

  it('.dockerignore leaves out dependencies, build output, data and the git folder', () => {
    for (const p of ['node_modules', 'plugins/commands/node_modules', 'dist', 'plugins/commands/dist', '.git', 'data', 'test']) {
      expect(ignoredByDockerignore(p, dockerignore), p).toBe(true);
    }
    // The negation handling the check above relies on.
    expect(ignoredByDockerignore('a/b', ['a', '!a/b'])).toBe(false);
  });

  it('puts into the runtime stage what package.json "files" publishes (less the docs), and every bundled plugin', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    const fromBuild = runtime.body
      .filter((i) => i.keyword === 'COPY' && copyParts(i.args).flags.includes('--from=build'))
      .flatMap((i) => copyParts(i.args).sources.map((s) => s.replace(/^\/app\//, '')));
    const wanted = pkg.files
      .filter((f) => f !== 'docs')
      .flatMap((f) => (f.startsWith('plugins/*/') ? pluginDirs.map((name) => f.replace('*', name)) : [f]));
    const fromContext = runtime.body
      .filter((i) => i.keyword === 'COPY' && !copyParts(i.args).flags.some((f) => f.startsWith('--from=')))
      .flatMap((i) => copyParts(i.args).sources);
    for (const file of wanted) expect([...fromBuild, ...fromContext], `runtime stage has ${file}`).toContain(file);
    expect(fromBuild).toContain('node_modules');
    expect(pluginDirs.length).toBeGreaterThanOrEqual(4);
    // Every file it takes from the repository (not a build output) exists.
    for (const file of fromBuild.filter((f) => !/(^|\/)(dist|node_modules)$/.test(f))) {
      expect(existsSync(path.join(ROOT, file)), `${file} exists`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

type Service = {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[]; interval?: string; retries?: number };
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
};

describe('deploy/docker-compose.yml', () => {
  const text = readFileSync(COMPOSE, 'utf8');
  // Compose resolves YAML merge keys (<<) like this.
  const doc = parseYaml(text, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const services = doc.services;

  function validator() {
    const schema = JSON.parse(readFileSync(COMPOSE_SCHEMA, 'utf8')) as Record<string, unknown>;
    // The schema is draft-07 (ajv's default) and uses the annotation "deprecated", which
    // strict mode would reject as an unknown keyword.
    expect(schema.$schema).toMatch(/draft-07/);
    delete schema.$schema;
    const ajv = new Ajv({ allErrors: true, strict: false });
    return ajv.compile(schema);
  }

  it('parses as YAML without errors or warnings', () => {
    const parsed = parseDocument(text, { merge: true });
    expect(parsed.errors).toEqual([]);
    expect(parsed.warnings).toEqual([]);
  });

  it('is valid against the Compose Specification JSON Schema', () => {
    const validate = validator();
    const ok = validate(doc);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check catches mistakes (a misspelt key, a wrong type)', () => {
    const validate = validator();
    const misspelt = structuredClone(doc);
    (misspelt.services.model as Record<string, unknown>).resource = { limits: { cpus: '4' } };
    expect(validate(misspelt)).toBe(false);
    const wrongType = structuredClone(doc);
    (wrongType.services.postgres as Record<string, unknown>).depends_on = 'pincer1';
    expect(validate(wrongType)).toBe(false);
  });

  it('has three Pincer nodes on the shared PostgreSQL, each waiting for it to be healthy, with a /health check', () => {
    for (const name of NODES) {
      const node = services[name]!;
      expect(node, name).toBeDefined();
      expect(node.image).toBe(services.pincer1!.image);
      expect(node.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
      expect(node.environment?.PINCER_STORE, name).toMatch(/^postgres:\/\/pincer:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/pincer$/);
      expect(node.environment?.PINCER_CONFIG).toBe('/etc/pincer/pincer.config.yaml');
      expect(node.volumes).toContain('./pincer.config.yaml:/etc/pincer/pincer.config.yaml:ro');
      expect(node.volumes).toContain(`${name}-data:/data`);
      // Tokens come from the environment (deploy/.env), never written in the file.
      expect(node.environment?.PINCER_API_TOKENS).toMatch(/^\$\{PINCER_API_TOKENS:\?/);
      expect(node.environment?.PINCER_ADMIN_TOKENS).toMatch(/^\$\{PINCER_ADMIN_TOKENS:\?/);
      expect(node.environment?.API_KEY).toMatch(/^\$\{PINCER_MODEL_TOKEN:\?/);
      expect(node.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
      expect(node.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:7700/health');
      expect(node.healthcheck).toMatchObject({ interval: '10s', retries: 3 });
    }
    expect(Object.keys(services).filter((s) => /^pincer\d$/.test(s))).toEqual(NODES);
    expect(services.postgres?.image).toMatch(/^postgres:16/);
    expect(services.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(services.postgres?.volumes).toContain('pgdata:/var/lib/postgresql/data');
  });

  it('runs `pincer model serve` with the seed limits (4 CPUs, 16 GB), its token, a model volume and a /health check', () => {
    const model = services.model!;
    expect(model.image).toBe(services.pincer1!.image);
    expect(model.command).toEqual(['model', 'serve', '--host', '0.0.0.0']);
    expect(model.deploy?.resources?.limits).toEqual({ cpus: '4', memory: '16G' });
    expect(model.environment?.PINCER_MODEL_SERVICE_TOKENS).toBe(services.pincer1!.environment?.API_KEY);
    expect(model.environment).toHaveProperty('MODEL_PATH');
    expect(model.volumes).toContain('./models:/models:ro');
    expect(model.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:7701/health');
  });

  it('puts nginx on port 80 in front of the nodes, and mounts the monitoring files', () => {
    expect(services.nginx?.ports).toEqual(['80:80']);
    expect(services.nginx?.volumes).toContain('./nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(services.nginx?.healthcheck?.test.join(' ')).toContain('/lb-health');
    const prometheus = services.prometheus!;
    expect(prometheus.volumes).toEqual(
      expect.arrayContaining([
        './prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
        './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
        './secrets/pincer-token:/etc/prometheus/pincer-token:ro', // prometheus.yml's credentials_file
      ]),
    );
    const grafana = services.grafana!;
    expect(grafana.volumes).toEqual(
      expect.arrayContaining([
        './grafana/provisioning:/etc/grafana/provisioning:ro',
        './grafana/pincer-dashboard.json:/var/lib/grafana/dashboards/pincer-dashboard.json:ro',
      ]),
    );
    // The dashboard provider reads the folder the dashboard is mounted in.
    const provider = parseYaml(readFileSync(path.join(DEPLOY, 'grafana/provisioning/dashboards/pincer.yml'), 'utf8')) as any;
    expect(provider.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
  });

  it('mounts only files that are in deploy/ (the secrets and models folders are made by the operator)', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.')) {
          expect(doc.volumes, `${name}: named volume ${source} is declared`).toHaveProperty(source);
          continue;
        }
        if (source.startsWith('./secrets/') || source === './models') continue;
        expect(existsSync(path.join(DEPLOY, source)), `${name}: ${source} exists under deploy/`).toBe(true);
      }
    }
    expect(existsSync(path.join(DEPLOY, services.pincer1!.build!.context, services.pincer1!.build!.dockerfile))).toBe(true);
  });

  it('names in deploy/env.example every variable it interpolates', () => {
    const example = readFileSync(path.join(DEPLOY, 'env.example'), 'utf8');
    const defined = new Set([...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const used = new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(4);
    for (const name of used) expect(defined, `${name} in env.example`).toContain(name);
  });

  it("deploy/pincer.config.yaml passes Pincer's own config validation with the compose environment", () => {
    const node = services.pincer1!.environment!;
    const sample: Record<string, string> = {
      POSTGRES_PASSWORD: 'secret-password',
      PINCER_API_TOKENS: 'user-token-1234',
      PINCER_ADMIN_TOKENS: 'admin-token-1234',
      PINCER_MODEL_TOKEN: 'model-token-1234',
    };
    // Compose's ${NAME:?message} interpolation, for the values above.
    const env = Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, value.replace(/\$\{([A-Z_]+)(?::\?[^}]*)?\}/g, (_all, name: string) => sample[name]!)]),
    );
    const { config } = loadConfig({ file: path.join(DEPLOY, 'pincer.config.yaml'), env: { ...env, PINCER_DATA_DIR: '/data' }, cwd: scratch('config') });
    expect(config.store).toBe('postgres://pincer:secret-password@postgres:5432/pincer');
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.port).toBe(7700);
    expect(config.auth.tokens).toEqual(['user-token-1234']);
    expect(config.models.default).toEqual([
      expect.objectContaining({ provider: 'openai-compatible', base_url: 'http://model:7701/v1', model: 'local/intents' }),
    ]);
    expect(config.queue.max_length).toBe(10000);
  });
});

// ---------------------------------------------------------------------------------------------
// nginx

describe('deploy/nginx/nginx.conf', () => {
  const text = readFileSync(NGINX, 'utf8');

  /** A copy nginx -t can check here: node hostnames to 127.0.0.1, pid and logs into `dir`. */
  function localCopy(dir: string, source = text): string {
    const file = path.join(dir, 'nginx.conf');
    writeFileSync(
      file,
      source
        .replace(/\bpincer(\d):7700\b/g, (_all, n: string) => `127.0.0.1:${17700 + Number(n)}`)
        .replace(/^pid .*;$/m, `pid ${path.join(dir, 'nginx.pid')};`)
        .replace(/^error_log \/dev\/stderr/m, `error_log ${path.join(dir, 'error.log')}`)
        .replace(/access_log \/dev\/stdout;/, `access_log ${path.join(dir, 'access.log')};`),
    );
    return file;
  }

  function nginxTest(dir: string, file: string) {
    return tool('nginx', ['-t', '-p', dir, '-e', path.join(dir, 'error.log'), '-c', file], 'nginx');
  }

  it('nginx -t accepts it (hostnames and paths rewritten to local ones)', () => {
    const dir = scratch('nginx');
    const { code, output } = nginxTest(dir, localCopy(dir));
    expect(output).toContain('test is successful');
    expect(code, output).toBe(0);
  });

  it('nginx -t rejects a broken copy (so the check above means something)', () => {
    const dir = scratch('nginx-broken');
    const { code, output } = nginxTest(dir, localCopy(dir, text.replace('least_conn;', 'least_conn')));
    expect(code, output).not.toBe(0);
  });

  it('balances the three nodes with passive checks (3 failures, 30 s) and retries only what is safe', () => {
    for (const node of NODES) expect(text).toMatch(new RegExp(`server ${node}:7700 max_fails=3 fail_timeout=30s;`));
    expect(text).toMatch(/least_conn;/);
    expect(text).toMatch(/^\s*proxy_next_upstream error timeout http_502 http_503 http_504;$/m);
    // non_idempotent only where an Idempotency-Key makes a POST safe to repeat.
    const nonIdempotent = text.split('\n').filter((l) => !l.trim().startsWith('#') && l.includes('non_idempotent'));
    expect(nonIdempotent).toHaveLength(1);
    expect(text).toMatch(/if \(\$http_idempotency_key != ""\)[\s\S]*location @idempotent_post \{\s*proxy_next_upstream [^;]*non_idempotent;/);
    // Longer than server.max_wait (60 s), so ?wait= requests are not cut.
    expect(text).toMatch(/^\s*proxy_read_timeout 75s;/m);
  });

  it('streams server-sent events unbuffered with long timeouts, and answers its own /lb-health', () => {
    const events = /location ~ \^\/v1\/messages\/\[\^\/\]\+\/events\$ \{([^}]*)\}/.exec(text)?.[1];
    expect(events).toMatch(/proxy_buffering off;/);
    expect(events).toMatch(/proxy_read_timeout 1h;/);
    const completions = /location = \/v1\/chat\/completions \{([^}]*)\}/.exec(text)?.[1];
    expect(completions).toMatch(/proxy_buffering off;/);
    expect(new RegExp('^/v1/messages/[^/]+/events$').test('/v1/messages/01J9ZABC/events')).toBe(true);
    expect(text).toMatch(/location = \/lb-health \{[^}]*return 200 "OK\\n";/);
    expect(text).toMatch(/HAProxy/); // the comment saying where S2.5's active checks are done
  });
});

// ---------------------------------------------------------------------------------------------
// HAProxy

describe('deploy/haproxy/haproxy.cfg', () => {
  const text = readFileSync(HAPROXY, 'utf8');

  function localCopy(dir: string, source = text): string {
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, source.replace(/ pincer(\d):7700\b/g, (_all, n: string) => ` 127.0.0.1:${17700 + Number(n)}`));
    return file;
  }

  it('haproxy -c accepts it (node hostnames rewritten to 127.0.0.1)', () => {
    const dir = scratch('haproxy');
    const { code, output } = tool('haproxy', ['-c', '-f', localCopy(dir)], 'haproxy');
    expect(output).toContain('Configuration file is valid');
    expect(code, output).toBe(0);
  });

  it('haproxy -c rejects a broken copy', () => {
    const dir = scratch('haproxy-broken');
    const { code, output } = tool('haproxy', ['-c', '-f', localCopy(dir, text.replace('balance leastconn', 'balance fastest'))], 'haproxy');
    expect(code, output).not.toBe(0);
  });

  it('really takes a node out after 3 failed checks and back after 2 passes (checks every 200 ms here)', async () => {
    // Three fake nodes: /health answers as `health` says; other paths name the node.
    const health = ['OK', 'OK', 'OK'];
    const servers = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const server = createServer((request, response) => {
          if (request.url === '/health') {
            const body = health[i]!;
            response.writeHead(body === 'OK' ? 200 : 503, { 'content-type': 'text/plain' }).end(body);
          } else response.end(`node${i + 1}`);
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return server;
      }),
    );
    const ports = servers.map((s) => (s.address() as AddressInfo).port);
    const free = async () => {
      const s = createServer();
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      const port = (s.address() as AddressInfo).port;
      await new Promise((resolve) => s.close(resolve));
      return port;
    };
    const [front, stats] = [await free(), await free()];
    const dir = scratch('haproxy-live');
    const config = text
      .replace(/ pincer(\d):7700\b/g, (_all, n: string) => ` 127.0.0.1:${ports[Number(n) - 1]}`)
      .replace(/^\s*(user|group) haproxy$/gm, '')
      .replace(/^\s*stats socket .*$/m, `  stats socket ${path.join(dir, 'admin.sock')} mode 600 level admin`)
      .replace(/^\s*bind :80$/m, `  bind 127.0.0.1:${front}`)
      .replace(/^\s*bind 127\.0\.0\.1:8404$/m, `  bind 127.0.0.1:${stats}`)
      .replace('inter 10s', 'inter 200ms');
    writeFileSync(path.join(dir, 'haproxy.cfg'), config);
    const binary = onPath('haproxy') ? 'haproxy' : '/usr/sbin/haproxy';
    const child = spawn(binary, ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    /** Each server's status from the stats page's CSV: UP, DOWN, or a transition like "UP 1/3". */
    const states = async (): Promise<Record<string, string>> => {
      const csv = await (await fetch(`http://127.0.0.1:${stats}/stats;csv`)).text();
      const rows = csv.split('\n').map((l) => l.split(',')).filter((r) => r[0] === 'pincer_nodes' && r[1]!.startsWith('pincer'));
      return Object.fromEntries(rows.map((r) => [r[1]!, r[17]!]));
    };
    const until = async (want: Record<string, string>, what: string) => {
      const deadline = Date.now() + 10_000;
      let last: Record<string, string> = {};
      while (Date.now() < deadline) {
        last = await states().catch(() => ({}));
        if (Object.entries(want).every(([k, v]) => last[k] === v)) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${what}: ${JSON.stringify(last)}\n${stderr}`);
    };
    try {
      await until({ pincer1: 'UP', pincer2: 'UP', pincer3: 'UP' }, 'all up at first');
      expect(await (await fetch(`http://127.0.0.1:${front}/lb-health`)).status).toBe(200);
      health[1] = 'store unavailable'; // 503
      // Not after one or two failures (fall 3): "UP 1/3", "UP 2/3" are the way down.
      await until({ pincer2: 'DOWN' }, 'pincer2 down after 3 failed checks');
      const answered = new Set<string>();
      for (let i = 0; i < 12; i++) answered.add(await (await fetch(`http://127.0.0.1:${front}/v1/x`)).text());
      expect([...answered].sort()).toEqual(['node1', 'node3']);
      health[1] = 'OK';
      await until({ pincer2: 'UP' }, 'pincer2 up after 2 passing checks');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it('checks GET /health every 10 s, down after 3 failures, up after 2 passes (S2.5), on all three nodes', () => {
    expect(text).toMatch(/^\s*option httpchk$/m);
    expect(text).toMatch(/^\s*http-check send meth GET uri \/health\b/m);
    expect(text).toMatch(/^\s*http-check expect string OK$/m);
    expect(text).toMatch(/^\s*default-server inter 10s fall 3 rise 2\b/m);
    for (const node of NODES) expect(text).toMatch(new RegExp(`^\\s*server ${node} ${node}:7700 check$`, 'm'));
    expect(text).toMatch(/^\s*balance leastconn$/m);
    expect(text).toMatch(/^\s*timeout tunnel 1h$/m); // SSE
    expect(text).toMatch(/^\s*bind 127\.0\.0\.1:8404$/m); // stats on localhost only
    expect(text).toMatch(/^\s*monitor-uri \/lb-health$/m);
  });
});

// ---------------------------------------------------------------------------------------------
// keepalived and its check script

describe('deploy/keepalived', () => {
  const text = readFileSync(KEEPALIVED, 'utf8');
  const installed = '/etc/keepalived/check_pincer.sh';

  /** A copy whose script path points at a copy of check_pincer.sh (keepalived -t checks it exists). */
  function localCopy(dir: string, source = text): string {
    const script = path.join(dir, 'check_pincer.sh');
    copyFileSync(CHECK_SCRIPT, script);
    const file = path.join(dir, 'keepalived.conf');
    writeFileSync(file, source.replaceAll(installed, script));
    return file;
  }

  it('keepalived -t accepts it, without warnings (it exits non-zero on those too)', () => {
    const dir = scratch('keepalived');
    const { code, output } = tool('keepalived', ['-t', '-f', localCopy(dir)], 'keepalived');
    expect(output.trim(), output).toBe('');
    expect(code, output).toBe(0);
  });

  it('keepalived -t rejects a broken copy and a missing check script', () => {
    const dir = scratch('keepalived-broken');
    const broken = tool('keepalived', ['-t', '-f', localCopy(dir, text.replace('virtual_router_id 51', 'virtual_router_idd 51'))], 'keepalived');
    expect(broken.code, broken.output).not.toBe(0);
    const missing = scratch('keepalived-missing');
    writeFileSync(path.join(missing, 'keepalived.conf'), text);
    if (!existsSync(installed)) {
      const noScript = tool('keepalived', ['-t', '-f', path.join(missing, 'keepalived.conf')], 'keepalived');
      expect(noScript.code, noScript.output).not.toBe(0);
    }
  });

  it('tracks check_pincer.sh every 10 s, failing after 3 and recovering after 2, on the placeholder VIP', () => {
    const script = /vrrp_script chk_pincer \{([^}]*)\}/.exec(text)?.[1] ?? '';
    expect(script).toContain(`script "${installed} http://127.0.0.1/lb-health"`);
    expect(script).toMatch(/^\s*interval 10$/m);
    expect(script).toMatch(/^\s*fall 3$/m);
    expect(script).toMatch(/^\s*rise 2$/m);
    // The weight takes the master (150) below the backup (100), so the VIP moves.
    const weight = Number(/^\s*weight (-\d+)$/m.exec(script)?.[1]);
    const priority = Number(/^\s*priority (\d+)/m.exec(text)?.[1]);
    expect(priority + weight).toBeLessThan(100);
    expect(text).toMatch(/^\s*10\.0\.0\.100\/24 dev eth0/m);
    expect(text).toMatch(/track_script \{\s*chk_pincer\s*\}/);
    expect(text).toMatch(/^\s*# unicast_peer \{/m);
  });

  describe('check_pincer.sh', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((request, response) => {
        const [status, body] = request.url === '/ok' ? [200, 'OK'] : request.url === '/down' ? [503, 'store unavailable'] : request.url === '/slow' ? [0, ''] : [200, 'NOT OK'];
        if (status === 0) return; // never answers: the script's timeout has to end it
        response.writeHead(status, { 'content-type': 'text/plain' }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('is a POSIX sh script, executable, that sh -n accepts', () => {
      const script = readFileSync(CHECK_SCRIPT, 'utf8');
      expect(script.split('\n')[0]).toBe('#!/bin/sh');
      accessSync(CHECK_SCRIPT, constants.X_OK);
      expect(statSync(CHECK_SCRIPT).mode & 0o022, 'not writable by group or others (keepalived script security)').toBe(0);
      const { code, output } = tool('sh', ['-n', CHECK_SCRIPT], 'dash');
      expect(code, output).toBe(0);
      if (onPath('dash')) expect(tool('dash', ['-n', CHECK_SCRIPT], 'dash').code).toBe(0);
      if (onPath('checkbashisms')) expect(tool('checkbashisms', [CHECK_SCRIPT], 'devscripts').code).toBe(0);
    });

    // With curl, then with wget alone on PATH (a host may have either).
    for (const client of ['curl', 'wget']) {
      describe(`with ${client}`, () => {
        let env: NodeJS.ProcessEnv;
        beforeAll(() => {
          const bin = scratch(`bin-${client}`);
          const real = spawnSync('sh', ['-c', `command -v ${client}`], { encoding: 'utf8' }).stdout.trim();
          if (real && !existsSync(path.join(bin, client))) symlinkSync(real, path.join(bin, client));
          env = { PATH: bin, PINCER_CHECK_TIMEOUT: '1' };
        });
        const check = (...urls: string[]) => run('/bin/sh', [CHECK_SCRIPT, ...urls], env);

        it.skipIf(!onPath(client))('exits 0 when /health answers 200 OK', async () => {
          expect(await check(`${base}/ok`)).toEqual({ code: 0, output: '' });
        });
        it.skipIf(!onPath(client))('exits 1 on a 503, on a 200 that is not OK, on a timeout and when nothing listens', async () => {
          expect((await check(`${base}/down`)).code).toBe(1);
          expect((await check(`${base}/other`)).code).toBe(1);
          expect((await check(`${base}/slow`)).code).toBe(1);
          const closed = createServer();
          await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
          const port = (closed.address() as AddressInfo).port;
          await new Promise((resolve) => closed.close(resolve));
          expect((await check(`http://127.0.0.1:${port}/health`)).code).toBe(1);
        });
        it.skipIf(!onPath(client))('exits 1 when any of several URLs fails', async () => {
          expect((await check(`${base}/ok`, `${base}/ok`)).code).toBe(0);
          expect((await check(`${base}/ok`, `${base}/down`)).code).toBe(1);
        });
      });
    }

    it('exits 1 and says why when neither curl nor wget is there', async () => {
      const { code, output } = await run('/bin/sh', [CHECK_SCRIPT, `${base}/ok`], { PATH: scratch('bin-empty') });
      expect(code).toBe(1);
      expect(output).toContain('neither curl nor wget');
    });

    it('curl or wget is on this machine, so the runs above were not all skipped', () => {
      expect(onPath('curl') || onPath('wget')).toBe(true);
    });
  });
});
