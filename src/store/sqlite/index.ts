import Database from 'better-sqlite3';
import { sqliteAlertStore } from '../../alerts/store.ts';
import { forgetRunningClaims, sqliteIdempotencyStore } from '../../idempotency/store.ts';
import type { Store } from '../interface.ts';
import { startCheckpointer } from './checkpointer.ts';
import { sqliteEntityStore } from './entities.ts';
import { sqliteLedgerStore } from './ledger.ts';
import { acquireFileLock, StoreLockedError } from './lock.ts';
import { migrate } from './schema.ts';

export { StoreLockedError };

export interface SqliteOptions {
  /** How often the worker thread checkpoints the WAL. */
  checkpointIntervalMs?: number;
  onError?: (message: string) => void;
}

/** Opens the embedded store: one connection, WAL, owned by this process (lock file). */
export function openSqliteStore(file: string, opts: SqliteOptions = {}): Store {
  const inMemory = file === ':memory:';
  const release = inMemory ? () => {} : acquireFileLock(file);
  let db: Database.Database;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL survives a process crash (kill -9); only an OS crash can lose the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 2000');
    if (!inMemory) db.pragma('wal_autocheckpoint = 0');
    migrate(db);
    forgetRunningClaims(db);
  } catch (err) {
    release();
    throw err;
  }
  const onError = opts.onError ?? (() => {});
  const checkpointer = inMemory
    ? null
    : startCheckpointer(file, opts.checkpointIntervalMs ?? 1000, (message) => {
        onError(`WAL checkpoint failed: ${message}`);
      });
  return {
    entities: sqliteEntityStore(db),
    ledger: sqliteLedgerStore(db),
    alerts: sqliteAlertStore(db),
    idempotency: sqliteIdempotencyStore(db),
    async close() {
      await checkpointer?.stop();
      if (db.open) db.close();
      release();
    },
  };
}
