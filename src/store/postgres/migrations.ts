import { type Kysely, type Migration, Migrator, sql } from 'kysely';
import type pg from 'pg';
import type { TollgateDatabase } from './schema.ts';

/**
 * Byte-wise ordering, as in SQLite: listings sort the same whatever locale the database was
 * created with.
 */
const text = sql`text collate "C"`;

/**
 * The SQLite schema as of its migration 4, for the tables this store serves (entities, keys,
 * budgets, ledger). Money, epoch-ms timestamps and token counts are BIGINT.
 */
function entitiesAndLedger(schema: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const s = db.schema.withSchema(schema);
      await s
        .createTable('orgs')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('source', text, (c) => c.notNull())
        .execute();
      await s
        .createTable('teams')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('org', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('cost_center', text)
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await s
        .createTable('projects')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('team', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await s
        .createTable('keys')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('hash', text, (c) => c.notNull().unique())
        .addColumn('prefix', text, (c) => c.notNull())
        .addColumn('name', text)
        .addColumn('org', text, (c) => c.notNull())
        .addColumn('team', text, (c) => c.notNull())
        .addColumn('project', text, (c) => c.notNull())
        .addColumn('env', text, (c) => c.notNull())
        .addColumn('user', text)
        .addColumn('cost_center', text)
        .addColumn('models', 'jsonb')
        .addColumn('scopes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('rotated_from', text)
        .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .execute();
      await s.createIndex('keys_team').on('keys').column('team').execute();
      await s
        .createTable('retired_secrets')
        .addColumn('hash', text, (c) => c.primaryKey())
        .addColumn('key_id', text, (c) => c.notNull())
        .addColumn('retired_at', 'bigint', (c) => c.notNull())
        .execute();
      await s
        .createTable('budgets')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('spec', 'jsonb', (c) => c.notNull())
        .addColumn('source', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await s
        .createTable('calls')
        .addColumn('call_id', text, (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('request_id', text)
        .addColumn('session_id', text)
        .addColumn('ts_start', 'bigint', (c) => c.notNull())
        .addColumn('ts_end', 'bigint')
        .addColumn('key_id', text, (c) => c.notNull())
        .addColumn('org', text, (c) => c.notNull())
        .addColumn('team', text, (c) => c.notNull())
        .addColumn('project', text, (c) => c.notNull())
        .addColumn('env', text, (c) => c.notNull())
        .addColumn('cost_center', text)
        .addColumn('user', text)
        .addColumn('feature', text)
        .addColumn('provider', text, (c) => c.notNull())
        .addColumn('model_requested', text, (c) => c.notNull())
        .addColumn('model_used', text, (c) => c.notNull())
        .addColumn('endpoint', text, (c) => c.notNull())
        .addColumn('stream', 'boolean', (c) => c.notNull())
        .addColumn('input_tokens', 'bigint', (c) => c.notNull())
        .addColumn('output_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cache_read_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cache_write_tokens', 'bigint', (c) => c.notNull())
        .addColumn('reasoning_tokens', 'bigint', (c) => c.notNull())
        .addColumn('tool_call_tokens', 'bigint', (c) => c.notNull())
        .addColumn('usage_source', text, (c) => c.notNull())
        .addColumn('cost', 'bigint', (c) => c.notNull())
        .addColumn('reserved', 'bigint', (c) => c.notNull())
        .addColumn('reserved_tokens', 'bigint', (c) => c.notNull())
        .addColumn('status', text, (c) => c.notNull())
        .addColumn('http_status', 'integer')
        .addColumn('error_code', text)
        .addColumn('denial_policy', text)
        .addColumn('fallback_from', text)
        .addColumn('action', text)
        .addColumn('queue_ms', 'bigint')
        .addColumn('latency_ms', 'bigint')
        .addColumn('ttft_ms', 'bigint')
        .addColumn('flags', text)
        .addColumn('lease_until', 'bigint')
        .addPrimaryKeyConstraint('calls_pkey', ['call_id', 'attempt'])
        .execute();
      await s.createIndex('calls_ts').on('calls').column('ts_start').execute();
      // Pending rows are few and read at startup oldest first.
      await s
        .createIndex('calls_pending')
        .on('calls')
        .column('ts_start')
        .where(sql.ref('status'), '=', 'pending')
        .execute();
      await s.createIndex('calls_team_ts').on('calls').columns(['team', 'ts_start']).execute();
      await s
        .createIndex('calls_request')
        .on('calls')
        .column('request_id')
        .where(sql.ref('request_id'), 'is not', null)
        .execute();
    },
  };
}

/**
 * Issue 7: alert events and Idempotency-Key records shared by every replica (they were in a
 * per-replica SQLite file). The UNIQUE and PRIMARY keys are what make one replica win.
 */
function alertsAndIdempotency(schema: string): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const s = db.schema.withSchema(schema);
      await s
        .createTable('alert_events')
        .addColumn('seq', 'bigserial', (c) => c.notNull())
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('policy_id', text, (c) => c.notNull())
        .addColumn('window_id', text, (c) => c.notNull())
        .addColumn('threshold', 'double precision', (c) => c.notNull())
        .addColumn('payload', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('alert_events_fired', ['policy_id', 'window_id', 'threshold'])
        .execute();
      await s.createIndex('alert_events_created').on('alert_events').columns(['created_at', 'seq']).execute();
      await s
        .createTable('alert_deliveries')
        .addColumn('seq', 'bigserial', (c) => c.primaryKey())
        .addColumn('event_id', text, (c) => c.notNull())
        .addColumn('target_id', text, (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .addColumn('ok', 'boolean', (c) => c.notNull())
        .addColumn('http_status', 'integer')
        .addColumn('error', text)
        .execute();
      await s.createIndex('alert_deliveries_event').on('alert_deliveries').column('event_id').execute();
      await s
        .createTable('idempotency')
        .addColumn('key_id', text, (c) => c.notNull())
        .addColumn('idem_key', text, (c) => c.notNull())
        .addColumn('body_hash', text, (c) => c.notNull())
        .addColumn('state', text, (c) => c.notNull())
        .addColumn('owner', text)
        .addColumn('call_id', text, (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('headers', text, (c) => c.notNull())
        .addColumn('body', 'bytea', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_pkey', ['key_id', 'idem_key'])
        .execute();
      await s.createIndex('idempotency_expires').on('idempotency').column('expires_at').execute();
    },
  };
}

/** Ordered by name; never edit one that has shipped, add the next. */
function migrations(schema: string): Record<string, Migration> {
  return {
    '0001_entities_and_ledger': entitiesAndLedger(schema),
    '0002_alerts_and_idempotency': alertsAndIdempotency(schema),
  };
}

export class MigrationError extends Error {}

const LOCK_WAIT_MS = 15 * 60_000;
const LOCK_POLL_MS = 100;

/**
 * Polls pg_try_advisory_lock rather than blocking in pg_advisory_lock: each try is instant, so a
 * replica waiting on a long migration is not cut off by statement or query timeouts.
 */
async function acquireAdvisoryLock(client: pg.PoolClient, lockName: string): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const res = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
      [lockName],
    );
    if (res.rows[0]?.locked) return;
    if (Date.now() > deadline)
      throw new MigrationError(`timed out waiting for the migration lock ${lockName}`);
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

/**
 * Brings the schema to the latest version. Replicas starting together queue on a session-level
 * advisory lock held on its own connection across the whole run (schema creation, Kysely's
 * bookkeeping tables, the migrations), so exactly one of them migrates and the others then find
 * nothing to do.
 */
export async function migrateToLatest(
  db: Kysely<TollgateDatabase>,
  pool: pg.Pool,
  schema: string,
): Promise<string[]> {
  const lockName = `tollgate.migrate:${schema}`;
  const lockHolder = await pool.connect();
  let broken: Error | undefined;
  try {
    await acquireAdvisoryLock(lockHolder, lockName);
    try {
      await ensureSchema(lockHolder, schema);
      const migrator = new Migrator({
        db,
        migrationTableSchema: schema,
        provider: { getMigrations: async () => migrations(schema) },
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'setup';
        throw new MigrationError(`PostgreSQL migration ${failed} failed: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      return (results ?? []).map((r) => r.migrationName);
    } finally {
      await lockHolder.query('SELECT pg_advisory_unlock(hashtext($1))', [lockName]);
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    // A connection that failed mid-lock is discarded rather than returned to the pool.
    lockHolder.release(broken);
  }
}

/**
 * Looks before creating: CREATE SCHEMA IF NOT EXISTS demands CREATE on the database even when the
 * schema exists, which an application role often lacks.
 */
async function ensureSchema(client: pg.PoolClient, schema: string): Promise<void> {
  const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (found.rowCount === 0)
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema.replaceAll('"', '""')}"`);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
