import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pincer } from '../../src/pincer.js';
import { LogCapture, tempDir, testConfig } from '../support/index.js';
import { dropSchema, freshSchema, storeUrl } from '../support/postgres.js';
import { runCli } from '../support/process.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/kb');

interface Report {
  inScope: number;
  outOfScope: number;
  recallAt1: number;
  recallAt5: number;
  outOfScopeDeclined: number;
}

describe('pincer kb', () => {
  const { dir, cleanup } = tempDir('pincer-cli-kb-');
  let pincer: Pincer;
  let env: Record<string, string>;
  beforeAll(async () => {
    pincer = await Pincer.create({ config: testConfig(dir), logDestination: new LogCapture(), env: {} });
    env = { PINCER_URL: await pincer.start(), PINCER_TOKEN: '' };
  });
  afterAll(async () => {
    await pincer?.close();
    cleanup();
  });

  it('adds files by glob, lists them, searches them and removes one', async () => {
    const docs = path.join(dir, 'docs');
    mkdirSync(path.join(docs, 'deep'), { recursive: true });
    writeFileSync(path.join(docs, 'a.md'), '# Alpha\n\nThe alpha release ships on Mondays.\n');
    writeFileSync(path.join(docs, 'deep', 'b.md'), '# Beta\n\nBeta testers get the build on Fridays.\n');
    writeFileSync(path.join(docs, 'skip.txt'), 'not matched by the glob');
    const added = await runCli(['kb', 'add', 'docs/**/*.md'], { cwd: dir, env });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('2 of 2 file(s) indexed or unchanged');
    expect(added.stderr).toContain('[2/2] docs/deep/b.md: indexed (1 chunks)');
    const listed = await runCli(['kb', 'list'], { cwd: dir, env });
    expect(listed.stdout).toMatch(/kb:docs\/a\.md\s+indexed\s+1/);
    const search = await runCli(['kb', 'search', 'when', 'do', 'beta', 'testers', 'get', 'builds'], { cwd: dir, env });
    expect(search.stdout).toMatch(/kb:docs\/deep\/b\.md\s+Beta/);
    const id = /^(ks_\S+)\s+kb:docs\/a\.md/m.exec(listed.stdout)?.[1];
    expect((await runCli(['kb', 'remove', id!], { cwd: dir, env })).stdout).toContain('removed kb:docs/a.md');
    const missing = await runCli(['kb', 'add', 'nothing/*.md'], { cwd: dir, env });
    expect(missing.code).not.toBe(0);
  });

  it.each([['sqlite'], ['postgres']])('measures the acme corpus on %s: recall and out-of-scope declines, with a tuned threshold', async (backend) => {
    const schema = backend === 'postgres' ? await freshSchema() : undefined;
    try {
      const args = ['--json', 'kb', 'eval', path.join(FIXTURES, 'acme-dev.yaml'), path.join(FIXTURES, 'acme-heldout.yaml'), '--dir', path.join(FIXTURES, 'acme'), '--tune', ...(schema ? ['--store', storeUrl(schema)] : [])];
      const result = await runCli(args, { cwd: dir, env: {} });
      expect(result.code, result.stderr).toBe(0);
      const body = JSON.parse(result.stdout) as { backend: string; scan: { indexed: number; failed: number }; threshold: number; reports: Array<{ report: Report }> };
      expect(body.backend).toBe(backend);
      expect(body.scan).toMatchObject({ indexed: 16, failed: 0 });
      const [dev, heldout] = body.reports.map((r) => r.report);
      expect(dev).toMatchObject({ inScope: 41, outOfScope: 12 });
      expect(heldout).toMatchObject({ inScope: 31, outOfScope: 10 });
      // Floors under the figures measured when this was written (docs/knowledge.md): a regression fails here.
      expect(heldout!.recallAt5).toBeGreaterThanOrEqual(0.75);
      expect(heldout!.outOfScopeDeclined / heldout!.outOfScope).toBeGreaterThanOrEqual(0.8);
    } finally {
      if (schema) await dropSchema(schema);
    }
  });
});
