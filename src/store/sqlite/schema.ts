import type Database from 'better-sqlite3';
import { pendingMigrations } from '../migrations.js';

export { ACTIVE_STATES_SQL } from '../migrations.js';

/** Bring the file's schema up to date; PRAGMA user_version records the version. */
export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const migration of pendingMigrations(current, 'data folder')) {
    db.transaction(() => {
      db.exec(migration.sqlite);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
}
