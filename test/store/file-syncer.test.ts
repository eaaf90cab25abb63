import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSyncer } from '../../src/store/sqlite/file-syncer.js';
import { tempDir } from '../support/index.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function syncer(): { file: string; wal: FileSyncer } {
  const { dir, cleanup } = tempDir();
  const file = path.join(dir, 'wal');
  writeFileSync(file, '');
  const wal = new FileSyncer(file);
  cleanups.push(() => wal.close(), cleanup);
  return { file, wal };
}

describe('FileSyncer', () => {
  it('issues no fdatasync when nothing was written since the last one', async () => {
    const { file, wal } = syncer();
    await wal.sync();
    expect(wal.count).toBe(0);
    appendFileSync(file, 'frame');
    wal.noteWrite();
    await wal.sync();
    expect(wal.count).toBe(1);
    await wal.sync();
    await wal.sync();
    expect(wal.count).toBe(1);
  });

  it('shares syncs between concurrent callers: at most one running and one waiting', async () => {
    const { file, wal } = syncer();
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++) {
      appendFileSync(file, `frame ${i}`);
      wal.noteWrite();
      calls.push(wal.sync());
    }
    await Promise.all(calls);
    expect(wal.count).toBeLessThanOrEqual(2);
    expect(wal.count).toBeGreaterThanOrEqual(1);
  });
});
