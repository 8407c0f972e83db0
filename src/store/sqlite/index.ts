import Database from 'better-sqlite3';
import type { Store } from '../interface.ts';
import { sqliteEntityStore } from './entities.ts';
import { sqliteLedgerStore } from './ledger.ts';
import { migrate } from './schema.ts';

export class StoreLockedError extends Error {}

/**
 * Opens the embedded store. One connection, WAL, exclusive lock: the embedded gateway owns
 * its file (a second gateway on the same file is refused at once rather than sharing counters).
 */
export function openSqliteStore(file: string): Store {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL survives a process crash (kill -9); only an OS crash can lose the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 0');
    if (file !== ':memory:') db.pragma('locking_mode = EXCLUSIVE');
    migrate(db);
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new StoreLockedError(`database ${file} is in use by another Tollgate process`);
    }
    throw err;
  }
  return {
    entities: sqliteEntityStore(db),
    ledger: sqliteLedgerStore(db),
    async close() {
      if (db.open) db.close();
    },
  };
}
