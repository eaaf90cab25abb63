import { accessSync, constants, existsSync, mkdirSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { loadConfig, type LoadConfigOptions } from '../config/load.js';
import type { PincerConfig } from '../config/schema.js';
import { errorMessage, isErrorCode } from '../errors.js';
import { isPostgresStore, queueOptionsFrom, redactUrl } from '../store/open.js';
import { PostgresQueue } from '../store/postgres/queue.js';
import { SCHEMA_VERSION } from '../store/postgres/schema.js';
import { SqliteQueue } from '../store/sqlite/queue.js';
import { isLoopback } from '../server/auth.js';
import { buildModelLayer, type ModelLayer } from '../models/setup.js';
import { PINCER_VERSION } from '../version.js';

const MODEL_CHECK_TIMEOUT_MS = 60_000;

export type CheckStatus = 'ok' | 'warn' | 'fail';
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

/** Everything `pincer doctor` looks at, in order. A failed config stops the rest. */
export async function runChecks(load: LoadConfigOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [checkNode()];
  let config: PincerConfig;
  try {
    const loaded = loadConfig(load);
    config = loaded.config;
    results.push({ name: 'config', status: 'ok', detail: loaded.file ? `valid (${loaded.file} + environment)` : 'valid (defaults + environment; no pincer.config.yaml)' });
  } catch (err) {
    results.push({ name: 'config', status: 'fail', detail: errorMessage(err) });
    return results;
  }
  results.push(checkAuth(config));
  results.push(await checkStorage(config));
  results.push(checkDisk(config));
  results.push(await checkPort(config));
  results.push(...(await checkModels(config, load.env ?? process.env)));
  return results;
}

/**
 * Each model deployment, warmed as at start: that proves the key and reachability (a listing
 * call) or loads a GGUF file, without spending tokens. `pincer models test` asks for a reply.
 */
async function checkModels(config: PincerConfig, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  let layer: ModelLayer;
  try {
    layer = buildModelLayer(config, env, PINCER_VERSION);
  } catch (err) {
    return [{ name: 'models', status: 'fail', detail: errorMessage(err) }];
  }
  try {
    const started = performance.now();
    const failures = await layer.warmUp(MODEL_CHECK_TIMEOUT_MS);
    const ms = Math.round(performance.now() - started);
    return layer.deployments.map((d) => {
      const failure = failures.find((f) => f.id === d.id);
      const what = `${d.model} (from ${d.source})`;
      if (failure) return { name: `model ${d.id}`, status: 'fail', detail: `${what}: ${failure.error}` };
      return { name: `model ${d.id}`, status: 'ok', detail: d.provider === 'local' ? `${what}: built in, needs no key or download` : `${what}: reachable, warmed in ${ms} ms` };
    });
  } finally {
    await layer.close();
  }
}

function checkNode(): CheckResult {
  const major = Number(process.versions.node.split('.')[0]);
  return major >= 20
    ? { name: 'node', status: 'ok', detail: `Node.js ${process.versions.node}` }
    : { name: 'node', status: 'fail', detail: `Node.js ${process.versions.node}; Pincer needs 20 or newer` };
}

function checkAuth(config: PincerConfig): CheckResult {
  const { tokens, admin_tokens } = config.auth;
  if (tokens.length + admin_tokens.length === 0) {
    return isLoopback(config.server.host)
      ? { name: 'auth', status: 'ok', detail: `open API on loopback (${config.server.host}); set PINCER_API_TOKENS before exposing it` }
      : { name: 'auth', status: 'fail', detail: `server.host is ${config.server.host} with no tokens: Pincer will refuse to start; set PINCER_API_TOKENS` };
  }
  return {
    name: 'auth',
    status: admin_tokens.length > 0 ? 'ok' : 'warn',
    detail: `${tokens.length} API token(s), ${admin_tokens.length} admin token(s)${admin_tokens.length === 0 ? '; admin routes and `pincer queue` are unusable without PINCER_ADMIN_TOKENS' : ''}`,
  };
}

async function checkStorage(config: PincerConfig): Promise<CheckResult> {
  const store = config.store as string;
  if (isPostgresStore(store)) return checkPostgresStorage(store, config);
  if (!store.startsWith('sqlite:')) {
    return { name: 'storage', status: 'fail', detail: `${redactUrl(store)}: expected sqlite:<path> or postgres://...` };
  }
  const file = store.slice('sqlite:'.length);
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    accessSync(path.dirname(file), constants.W_OK);
  } catch (err) {
    return { name: 'storage', status: 'fail', detail: `${path.dirname(file)} is not writable: ${errorMessage(err)}` };
  }
  const existed = existsSync(file);
  try {
    const queue = new SqliteQueue(file, queueOptionsFrom(config));
    const stats = await queue.stats();
    await queue.close();
    return { name: 'storage', status: 'ok', detail: `${file}${existed ? '' : ' (created)'}: ${stats.depth} unfinished, ${stats.byState.done} done, ${stats.byState.dead} dead` };
  } catch (err) {
    if (isErrorCode(err, 'STORE_LOCKED')) {
      return { name: 'storage', status: 'ok', detail: `${file} is open in a running Pincer (locked; its numbers: pincer queue stats)` };
    }
    return { name: 'storage', status: 'fail', detail: `${file}: ${errorMessage(err)}` };
  }
}

/** Connects, migrates the schema if needed (as a starting node would) and reports the cluster's counts. */
async function checkPostgresStorage(store: string, config: PincerConfig): Promise<CheckResult> {
  const where = redactUrl(store);
  try {
    const queue = await PostgresQueue.open(store, queueOptionsFrom(config));
    try {
      const stats = await queue.stats();
      return {
        name: 'storage',
        status: 'ok',
        detail: `${where} (schema "${queue.settings.schema}", version ${SCHEMA_VERSION}, pool ${queue.settings.poolSize}): ${stats.depth} unfinished, ${stats.byState.done} done, ${stats.byState.dead} dead`,
      };
    } finally {
      await queue.close();
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { name: 'storage', status: 'fail', detail: code === 'STORE_UNAVAILABLE' ? errorMessage(err) : `${where}: ${errorMessage(err)}` };
  }
}

function checkDisk(config: PincerConfig): CheckResult {
  try {
    // With a PostgreSQL store nothing may have created data_dir yet (it holds plugin state).
    mkdirSync(config.data_dir, { recursive: true });
    const fs = statfsSync(config.data_dir);
    const free = fs.bavail * fs.bsize;
    const share = fs.bavail / fs.blocks;
    const detail = `${(free / 1024 ** 3).toFixed(1)} GiB free (${(share * 100).toFixed(1)} %) under ${config.data_dir}`;
    if (share < 0.1) return { name: 'disk', status: 'fail', detail: `${detail}: under 10 %, the alert threshold` };
    return { name: 'disk', status: share < 0.2 ? 'warn' : 'ok', detail };
  } catch (err) {
    return { name: 'disk', status: 'fail', detail: `cannot read free space of ${config.data_dir}: ${errorMessage(err)}` };
  }
}

async function checkPort(config: PincerConfig): Promise<CheckResult> {
  const { host, port } = config.server;
  const where = `${host}:${port}`;
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const server = createServer();
    server.once('error', (err) => resolve(err));
    server.listen({ host, port }, () => server.close(() => resolve(null)));
  });
  if (!error) return { name: 'port', status: 'ok', detail: `${where} is free` };
  if (error.code !== 'EADDRINUSE') return { name: 'port', status: 'fail', detail: `cannot bind ${where}: ${error.code ?? error.message}` };
  try {
    const target = isLoopback(host) || host === '0.0.0.0' ? '127.0.0.1' : host;
    const res = await request(`http://${target}:${port}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
    const body = await res.body.text();
    if (res.statusCode === 200 && body === 'OK') return { name: 'port', status: 'ok', detail: `${where} is served by a running Pincer (healthy)` };
  } catch {
    // Not an HTTP server answering /health.
  }
  return { name: 'port', status: 'fail', detail: `${where} is taken by another program; set PINCER_PORT` };
}
