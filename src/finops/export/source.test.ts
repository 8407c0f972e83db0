import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../ledger/types.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { sqliteLedgerStore } from '../../store/sqlite/ledger.ts';
import { migrate } from '../../store/sqlite/schema.ts';
import { ledgerStoreCalls, openLedgerFile } from './source.ts';
import { call, NOON } from './testCalls.ts';

const ids = (rows: Iterable<CallRecord>) => [...rows].map((r) => `${r.callId}#${r.attempt}`).sort();

async function collect(it: AsyncIterable<CallRecord>): Promise<CallRecord[]> {
  const out: CallRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

// Ties on purpose: several rows share a millisecond across page boundaries.
const rows = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 5, 5, 8].map((offset, i) =>
  call({ callId: `call_t${i}`, tsStart: NOON + offset, cost: i + 1 }),
);

describe('ledgerStoreCalls', () => {
  it('pages through the public query without losing or repeating rows that share a millisecond', async () => {
    const db = new Database(':memory:');
    migrate(db);
    const store = sqliteLedgerStore(db);
    await store.writeBatch([...rows, call({ tsStart: NOON + 100, cost: 1 })]);
    const range = { fromMs: NOON, toMs: NOON + 100 };
    for (const pageSize of [5, 7, 100]) {
      expect(ids(await collect(ledgerStoreCalls(store, range, pageSize)))).toEqual(ids(rows));
    }
    await expect(collect(ledgerStoreCalls(store, range, 3))).rejects.toThrow(/share one millisecond/);
    db.close();
  });
});

describe('openLedgerFile', () => {
  it('reads final rows read-only while the gateway store holds the file and its lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-source-'));
    const file = join(dir, 'ledger.db');
    const store = openSqliteStore(file);
    try {
      await store.ledger.writeBatch([...rows, call({ status: 'pending', tsStart: NOON })]);
      const ledger = openLedgerFile(file);
      expect(ids(ledger.calls({ fromMs: NOON, toMs: NOON + 3 }))).toEqual(
        ids(rows.filter((r) => r.tsStart < NOON + 3)),
      );
      await store.ledger.writeBatch([call({ callId: 'call_late', tsStart: NOON + 1 })]);
      expect(ids(ledger.calls({ fromMs: NOON, toMs: NOON + 3 }))).toContain('call_late#1');
      ledger.close();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => openLedgerFile(join(dir, 'missing.db'))).toThrow();
  });
});
