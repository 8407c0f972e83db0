import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../ledger/types.ts';
import { callRow, ledgerStoreContract } from '../contract/ledgerStore.contract.ts';
import type { LedgerStore } from '../interface.ts';
import { openSqliteStore } from '../sqlite/index.ts';
import { LedgerUnavailableError, SpoolingLedgerStore } from './spoolingLedger.ts';

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

/** A real (SQLite) ledger behind a switch that makes it unreachable, and a log of what reached it. */
function flaky(inner: LedgerStore) {
  const state = { down: false, batches: [] as CallRecord[][], refuse: (_r: CallRecord) => false };
  const guard = () => {
    if (state.down) throw refused();
  };
  const ledger: LedgerStore = {
    async writeBatch(rows) {
      guard();
      const bad = rows.find((r) => state.refuse(r));
      if (bad) throw Object.assign(new Error(`value too long in ${bad.callId}`), { code: '22001' });
      state.batches.push(rows);
      await inner.writeBatch(rows);
    },
    async pendingRows() {
      guard();
      return inner.pendingRows();
    },
    async renewPendingLeases(ids, leaseUntilMs) {
      guard();
      return inner.renewPendingLeases(ids, leaseUntilMs);
    },
    async *iterateSettledSince(fromMs) {
      guard();
      yield* inner.iterateSettledSince(fromMs);
    },
    async queryCalls(f) {
      guard();
      return inner.queryCalls(f);
    },
    async usage(by, f) {
      guard();
      return inner.usage(by, f);
    },
    async count() {
      guard();
      return inner.count();
    },
  };
  return { ledger, state };
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const final = (r: CallRecord): CallRecord => ({
  ...r,
  status: 'ok',
  cost: 700,
  usageSource: 'provider',
  leaseUntil: null,
});

describe('SpoolingLedgerStore', () => {
  let dir: string;
  let path: string;
  let sqlite: ReturnType<typeof openSqliteStore>;
  let db: ReturnType<typeof flaky>;
  const open = (opts: Partial<Parameters<typeof SpoolingLedgerStore.open>[1]> = {}) =>
    SpoolingLedgerStore.open(db.ledger, { path, retryMinMs: 5, retryMaxMs: 20, ...opts });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-spooling-'));
    path = join(dir, 'ledger.spool');
    sqlite = openSqliteStore(':memory:');
    db = flaky(sqlite.ledger);
  });
  afterEach(async () => {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes straight through while the database is up', async () => {
    const store = await open();
    await store.writeBatch([callRow('a'), callRow('b')]);
    expect(store.spooled()).toBe(0);
    expect(statSync(path).size).toBe(0);
    expect(await store.count()).toBe(2);
    await store.close();
  });

  it('spools while the database is down, answers reads with a clear error, and replays when it returns', async () => {
    const store = await open();
    db.state.down = true;
    await store.writeBatch([callRow('a'), callRow('b')]);
    await store.writeBatch([final(callRow('a'))]);
    expect(store.spooled()).toBe(3);
    expect(readFileSync(path, 'utf8').trim().split('\n').length).toBe(3);
    const err = await store.queryCalls({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerUnavailableError);
    expect((err as LedgerUnavailableError).code).toBe('store_unavailable');
    expect((err as Error).message).toContain('3 row(s) are spooled locally');
    await expect(store.count()).rejects.toThrow(LedgerUnavailableError);

    db.state.down = false;
    await until(() => store.spooled() === 0);
    expect(statSync(path).size).toBe(0);
    expect(await store.count()).toBe(2);
    expect((await store.queryCalls({ requestId: 'req-a' }))[0]?.status).toBe('ok');
    expect((await store.pendingRows()).map((r) => r.callId)).toEqual(['b']);
    await store.close();
  });

  it('queues new rows behind the spool so a final row is never overwritten by its pending row', async () => {
    // No background replay during the test: the database is back before anything is replayed.
    const store = await open({ retryMinMs: 60_000, retryMaxMs: 60_000 });
    db.state.down = true;
    await store.writeBatch([callRow('a')]);
    db.state.down = false;
    await store.writeBatch([final(callRow('a'))]);
    expect(store.spooled()).toBe(2);
    expect(db.state.batches).toEqual([]);
    expect(await store.drain()).toBe(true);
    expect(db.state.batches.flat().map((r) => r.status)).toEqual(['pending', 'ok']);
    expect((await store.queryCalls({}))[0]?.status).toBe('ok');
    await store.close();
  });

  it('lets an error that is not an outage reach the caller instead of spooling it', async () => {
    const store = await open();
    db.state.refuse = (r) => r.callId === 'bad';
    await expect(store.writeBatch([callRow('bad')])).rejects.toThrow('value too long');
    expect(store.spooled()).toBe(0);
    await store.close();
  });

  it('replays a spool left by a previous process before anything else is written', async () => {
    const first = await open();
    db.state.down = true;
    await first.writeBatch([callRow('a'), callRow('b')]);
    await first.close();
    expect(readFileSync(path, 'utf8').trim().split('\n').length).toBe(2);

    db.state.down = false;
    const second = await open();
    expect(second.spooled()).toBe(0);
    expect(await second.count()).toBe(2);
    await second.writeBatch([final(callRow('a'))]);
    expect(db.state.batches.map((b) => b.map((r) => `${r.callId}:${r.status}`))).toEqual([
      ['a:pending', 'b:pending'],
      ['a:ok'],
    ]);
    await second.close();
  });

  it('keeps a spool whose database is still down at close for the next start', async () => {
    const store = await open();
    db.state.down = true;
    await store.writeBatch([callRow('a')]);
    await store.close();
    const reopened = await open({ retryMinMs: 60_000 });
    expect(reopened.spooled()).toBe(1);
    db.state.down = false;
    expect(await reopened.drain()).toBe(true);
    expect(await reopened.count()).toBe(1);
    await reopened.close();
  });

  it('sets aside rows the database refuses during replay and replays the rest', async () => {
    const errors: string[] = [];
    const store = await open({ retryMinMs: 60_000, onError: (m) => errors.push(m) });
    db.state.down = true;
    await store.writeBatch([callRow('a'), callRow('poison'), callRow('c')]);
    db.state.down = false;
    db.state.refuse = (r) => r.callId === 'poison';
    expect(await store.drain()).toBe(true);
    expect((await store.pendingRows()).map((r) => r.callId)).toEqual(['a', 'c']);
    const aside = readFileSync(`${path}.rejected`, 'utf8').trim().split('\n');
    expect(aside.length).toBe(1);
    expect(JSON.parse(aside[0] ?? '{}').row.callId).toBe('poison');
    expect(errors.some((m) => m.includes('poison/1 refused'))).toBe(true);
    await store.close();
  });

  it('sets aside unreadable lines found in the spool', async () => {
    writeFileSync(path, `${JSON.stringify(callRow('a'))}\ngarbage\n`);
    const store = await open();
    expect(store.spooled()).toBe(0);
    expect(await store.count()).toBe(1);
    expect(JSON.parse(readFileSync(`${path}.rejected`, 'utf8'))).toEqual({
      reason: 'unreadable',
      line: 'garbage',
    });
    await store.close();
  });

  it('renews leases in the database, skips while rows wait in the spool, and reports an outage', async () => {
    const store = await open({ retryMinMs: 60_000, retryMaxMs: 60_000 });
    const lease = callRow('a').leaseUntil ?? 0;
    const ids = [{ callId: 'a', attempt: 1 }];
    await store.writeBatch([callRow('a')]);
    expect(await store.renewPendingLeases(ids, lease + 1_000)).toBe(1);
    expect((await store.pendingRows())[0]?.leaseUntil).toBe(lease + 1_000);

    db.state.down = true;
    const err = await store.renewPendingLeases(ids, lease + 2_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerUnavailableError);
    await store.writeBatch([callRow('b')]);
    expect(store.spooled()).toBe(1);
    db.state.down = false;
    // The database is back but row b is still only on disk: renewal waits for the replay.
    expect(await store.renewPendingLeases(ids, lease + 3_000)).toBe(0);
    expect((await store.pendingRows()).map((r) => [r.callId, r.leaseUntil])).toEqual([['a', lease + 1_000]]);
    expect(await store.drain()).toBe(true);
    const both = [...ids, { callId: 'b', attempt: 1 }];
    expect(await store.renewPendingLeases(both, lease + 4_000)).toBe(2);
    expect((await store.pendingRows()).map((r) => [r.callId, r.leaseUntil])).toEqual([
      ['a', lease + 4_000],
      ['b', lease + 4_000],
    ]);
    await store.close();
  });

  it('resolves a pending write only once it is on disk', async () => {
    const store = await open();
    db.state.down = true;
    await store.writeBatch([callRow('durable')]);
    expect(existsSync(path)).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(callRow('durable'));
    await store.close();
  });
});

describe('SpoolingLedgerStore over SQLite keeps the ledger contract', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  ledgerStoreContract('Spooling(SQLite)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'tollgate-spooling-'));
    dirs.push(d);
    const store = openSqliteStore(':memory:');
    const ledger = await SpoolingLedgerStore.open(store.ledger, { path: join(d, 'ledger.spool') });
    return {
      ledger,
      async close() {
        await ledger.close();
        await store.close();
      },
    };
  });
});
