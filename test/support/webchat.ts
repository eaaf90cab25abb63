import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startPincer, tempDir, type RunningPincer } from './index.js';

/** A real Pincer (startPincer's) reading `yaml` as its config file: the web chat's accounts, a model. */
export async function startWithConfig(yaml: string, env: Record<string, string> = {}): Promise<RunningPincer> {
  const { dir, cleanup } = tempDir('pincer-config-');
  const file = path.join(dir, 'pincer.config.yaml');
  writeFileSync(file, yaml);
  try {
    const running = await startPincer({ ...env, PINCER_CONFIG: file });
    return {
      ...running,
      close: async () => {
        await running.close();
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** A session of `account`, opened as a page of `origin` would. */
export async function openSession(url: string, account: string, origin: string, visitor?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${url}/v1/webchat/${account}/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify(visitor ? { visitor } : {}),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}
