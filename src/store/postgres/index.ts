import { Kysely, PostgresDialect, sql } from 'kysely';
import type { AlertStore } from '../../alerts/store.ts';
import type { IdempotencyStore } from '../../idempotency/store.ts';
import type { EntityStore, LedgerStore } from '../interface.ts';
import { postgresAlertStore } from './alerts.ts';
import { postgresEntityStore } from './entities.ts';
import { postgresIdempotencyStore } from './idempotency.ts';
import { postgresLedgerStore } from './ledger.ts';
import { MigrationError, migrateToLatest } from './migrations.ts';
import { createPool, type PoolOptions } from './pool.ts';
import type { TollgateDatabase } from './schema.ts';

export { MigrationError };

export interface PostgresStoreOptions extends PoolOptions {
  /** Schema holding Tollgate's tables (created if missing); lets gateways share one database. */
  schema?: string;
}

/** Cluster mode's durable store: config entities, keys, budgets, the ledger, alerts and Idempotency-Key records. */
export interface PostgresStores {
  entities: EntityStore;
  ledger: LedgerStore;
  alerts: AlertStore;
  idempotency: IdempotencyStore;
  /** Migrations this open applied (empty when another replica had already migrated). */
  applied: string[];
  close(): Promise<void>;
}

/** Connects, migrates under an advisory lock, and returns the stores. */
export async function openPostgresStore(
  url: string,
  opts: PostgresStoreOptions = {},
): Promise<PostgresStores> {
  const schema = opts.schema ?? 'public';
  const pool = createPool(url, opts);
  const base = new Kysely<TollgateDatabase>({ dialect: new PostgresDialect({ pool }) });
  let applied: string[];
  try {
    applied = await migrateToLatest(base, pool, schema);
    await warnIfCommitsAreAsync(base, opts.onError);
  } catch (err) {
    await base.destroy();
    throw err;
  }
  const db = base.withSchema(schema);
  let closing: Promise<void> | null = null;
  return {
    entities: postgresEntityStore(db),
    ledger: postgresLedgerStore(db, schema),
    alerts: postgresAlertStore(db),
    idempotency: postgresIdempotencyStore(db),
    applied,
    close() {
      closing ??= base.destroy();
      return closing;
    },
  };
}

/**
 * With synchronous_commit=off the server acknowledges a commit before its WAL is written, so a
 * database crash loses ledger rows the gateway was told were durable (and will not spool).
 */
async function warnIfCommitsAreAsync(
  db: Kysely<TollgateDatabase>,
  onError: ((message: string) => void) | undefined,
): Promise<void> {
  const { rows } = await sql<{ mode: string }>`SELECT current_setting('synchronous_commit') AS mode`.execute(
    db,
  );
  if (rows[0]?.mode === 'off') {
    onError?.('PostgreSQL synchronous_commit is off: a database crash can lose acknowledged ledger rows');
  }
}
