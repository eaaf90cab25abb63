import { closeSync, fsyncSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PincerError } from '../../errors.js';

/** Open (or create) the store's file with the pragmas the backend's durability rests on. */
export function openDatabase(file: string): Database.Database {
  const db = new Database(file, { timeout: 2000 });
  try {
    db.pragma('journal_mode = WAL');
    // Commits write the WAL without an fsync of their own; SqliteQueue answers a caller only
    // after FileSyncer has fdatasync'ed the WAL, off the event loop and shared by every commit
    // in between. WAL keeps commit order, so one sync covers all earlier commits.
    db.pragma('synchronous = NORMAL');
    // Hot index pages are rewritten by every commit; checkpointing less often copies each once.
    db.pragma('wal_autocheckpoint = 4000');
    db.pragma('cache_size = -16000');
    // One owner per file: the in-memory depth counter and orphan recovery rely on it. The OS
    // drops the lock when the process dies, so a restart after a crash is never blocked.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    if (file !== ':memory:') {
      // The WAL must exist before FileSyncer opens it; make its directory entry durable too.
      db.exec('CREATE TABLE IF NOT EXISTS pincer_wal_probe (x); DROP TABLE pincer_wal_probe;');
      fsyncDirectory(path.dirname(file));
    }
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new PincerError('STORE_LOCKED', `${file} is in use by another Pincer process; stop it or choose another data folder (PINCER_DATA_DIR)`);
    }
    throw err;
  }
  return db;
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
