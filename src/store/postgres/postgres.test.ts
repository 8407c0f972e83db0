import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PostgresServer,
  postgresOrWarn,
  startPostgresServer,
} from '../../../test/helpers/postgresServer.ts';
import { sqliteAlertStore } from '../../alerts/store.ts';
import { sqliteIdempotencyStore } from '../../idempotency/store.ts';
import { alertStoreContract } from '../contract/alertStore.contract.ts';
import { entityStoreContract } from '../contract/entityStore.contract.ts';
import { idempotencyStoreContract, type ReplicaPair } from '../contract/idempotencyStore.contract.ts';
import { callRow, ledgerStoreContract } from '../contract/ledgerStore.contract.ts';
import { openSqliteStore } from '../sqlite/index.ts';
import { migrate } from '../sqlite/schema.ts';
import { openPostgresStore } from './index.ts';
import { ROWS_PER_INSERT } from './ledger.ts';
import { parseInt8 } from './pool.ts';

const openSqlite = async () => openSqliteStore(':memory:');
entityStoreContract('SQLite', openSqlite);
ledgerStoreContract('SQLite', openSqlite);

/** Two connections to one fresh SQLite file, as two processes sharing it would have. */
async function sqlitePair<T>(make: (db: Database.Database) => T): Promise<ReplicaPair<T>> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pair-'));
  const connect = () => {
    const db = new Database(join(dir, 'tollgate.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 2000');
    return db;
  };
  const first = connect();
  migrate(first);
  const second = connect();
  return {
    one: make(first),
    two: make(second),
    async close() {
      first.close();
      second.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
idempotencyStoreContract('SQLite', () => sqlitePair(sqliteIdempotencyStore));
alertStoreContract('SQLite', () => sqlitePair(sqliteAlertStore));

describe('BIGINT parsing', () => {
  it('returns exact integers and refuses values a JS number would round', () => {
    expect(parseInt8('9000000000000000')).toBe(9e15);
    expect(parseInt8('-9007199254740991')).toBe(-Number.MAX_SAFE_INTEGER);
    expect(parseInt8('0')).toBe(0);
    expect(() => parseInt8('9007199254740993')).toThrow(RangeError);
  });

  it('chunks an upsert below the 65535 bind-parameter limit', () => {
    expect(ROWS_PER_INSERT).toBe(Math.floor(65_535 / Object.keys(callRow('x')).length));
    expect(ROWS_PER_INSERT * Object.keys(callRow('x')).length).toBeLessThanOrEqual(65_535);
  });
});

describe.skipIf(postgresOrWarn() === null)('PostgreSQL store', () => {
  let server: PostgresServer;
  let schemas = 0;
  const freshSchema = () => `t${++schemas}`;
  const openFresh = () => openPostgresStore(server.url, { schema: freshSchema() });

  beforeAll(async () => {
    server = await startPostgresServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  entityStoreContract('PostgreSQL', openFresh);
  ledgerStoreContract('PostgreSQL', openFresh);

  /** Two replicas' stores (two pools) on one fresh schema. */
  const postgresPair = async <T>(
    pick: (s: Awaited<ReturnType<typeof openPostgresStore>>) => T,
  ): Promise<ReplicaPair<T>> => {
    const schema = freshSchema();
    const first = await openPostgresStore(server.url, { schema });
    const second = await openPostgresStore(server.url, { schema });
    return {
      one: pick(first),
      two: pick(second),
      async close() {
        await Promise.all([first.close(), second.close()]);
      },
    };
  };
  idempotencyStoreContract('PostgreSQL', () => postgresPair((s) => s.idempotency));
  alertStoreContract('PostgreSQL', () => postgresPair((s) => s.alerts));

  it('migrates once when three replicas start at the same time', async () => {
    const schema = freshSchema();
    const replicas = await Promise.all([1, 2, 3].map(() => openPostgresStore(server.url, { schema })));
    try {
      expect(replicas.flatMap((r) => r.applied)).toEqual([
        '0001_entities_and_ledger',
        '0002_alerts_and_idempotency',
      ]);
      await replicas[0]?.ledger.writeBatch([callRow('c1')]);
      expect(await replicas[2]?.ledger.count()).toBe(1);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
    const again = await openPostgresStore(server.url, { schema });
    try {
      expect(again.applied).toEqual([]);
      expect(await again.ledger.count()).toBe(1);
    } finally {
      await again.close();
    }
  });

  it('stores money, timestamps and token counts as BIGINT', async () => {
    const schema = freshSchema();
    const store = await openPostgresStore(server.url, { schema });
    await store.close();
    const client = new pg.Client(server.url);
    await client.connect();
    try {
      const { rows } = await client.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = 'calls' AND column_name = ANY($2) ORDER BY column_name`,
        [schema, ['cost', 'reserved', 'ts_start', 'input_tokens', 'lease_until']],
      );
      expect(rows).toEqual([
        { column_name: 'cost', data_type: 'bigint' },
        { column_name: 'input_tokens', data_type: 'bigint' },
        { column_name: 'lease_until', data_type: 'bigint' },
        { column_name: 'reserved', data_type: 'bigint' },
        { column_name: 'ts_start', data_type: 'bigint' },
      ]);
    } finally {
      await client.end();
    }
  });

  it('fails to open with a clear error when the server cannot be reached', async () => {
    const url = `postgres://postgres@127.0.0.1:${await closedPort()}/tollgate`;
    await expect(openPostgresStore(url, { connectTimeoutMs: 1_000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});

async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 1));
    });
  });
}
