import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../ledger/types.ts';
import type { LedgerStore } from '../interface.ts';

/**
 * The contract every LedgerStore keeps (SQLite embedded, PostgreSQL cluster, and the spooling
 * wrapper). Run it with a factory that opens a fresh, empty, migrated store per test.
 */
export interface LedgerStoreHandle {
  ledger: LedgerStore;
  close(): Promise<void>;
}

export type LedgerStoreFactory = () => Promise<LedgerStoreHandle>;

const T0 = Date.parse('2025-06-10T12:00:00Z');

export function callRow(callId: string, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    callId,
    attempt: 1,
    requestId: `req-${callId}`,
    sessionId: null,
    tsStart: T0,
    tsEnd: null,
    keyId: 'key-1',
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    costCenter: null,
    user: null,
    feature: null,
    provider: 'openai',
    modelRequested: 'gpt-4o',
    modelUsed: 'gpt-4o',
    endpoint: 'chat.completions',
    stream: false,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    toolCallTokens: 0,
    usageSource: 'none',
    cost: 0,
    reserved: 1_500,
    reservedTokens: 300,
    status: 'pending',
    httpStatus: null,
    errorCode: null,
    denialPolicy: null,
    fallbackFrom: null,
    action: null,
    queueMs: null,
    latencyMs: null,
    ttftMs: null,
    flags: null,
    leaseUntil: T0 + 900_000,
    ...overrides,
  };
}

/** What the pipeline writes when a call settles: the same (call_id, attempt), final fields. */
function settled(row: CallRecord, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    ...row,
    status: 'ok',
    tsEnd: row.tsStart + 420,
    inputTokens: 120,
    outputTokens: 80,
    cacheReadTokens: 10,
    cacheWriteTokens: 5,
    reasoningTokens: 7,
    toolCallTokens: 3,
    usageSource: 'provider',
    cost: 1_234,
    httpStatus: 200,
    latencyMs: 420,
    ttftMs: 95,
    leaseUntil: null,
    ...overrides,
  };
}

const ids = (rows: CallRecord[]) => rows.map((r) => r.callId);

export function ledgerStoreContract(name: string, open: LedgerStoreFactory): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let handle: LedgerStoreHandle;
    let ledger: LedgerStore;
    beforeEach(async () => {
      handle = await open();
      ledger = handle.ledger;
    });
    afterEach(async () => {
      await handle.close();
    });

    it('starts empty and ignores an empty batch', async () => {
      await ledger.writeBatch([]);
      expect(await ledger.count()).toBe(0);
      expect(await ledger.pendingRows()).toEqual([]);
      expect(await ledger.queryCalls({})).toEqual([]);
      expect(await ledger.usage('team', {})).toEqual([]);
    });

    it('replaces the pending row by its final row in place', async () => {
      const pending = callRow('c1', { user: 'ana', feature: 'search', costCenter: 'CC-1', sessionId: 's1' });
      await ledger.writeBatch([pending]);
      expect(await ledger.pendingRows()).toEqual([pending]);
      const final = settled(pending, {
        action: 'degraded,queued',
        queueMs: 40,
        flags: 'clamped',
        fallbackFrom: 'gpt-4.1',
        stream: true,
      });
      await ledger.writeBatch([final]);
      expect(await ledger.count()).toBe(1);
      expect(await ledger.pendingRows()).toEqual([]);
      expect(await ledger.queryCalls({})).toEqual([final]);
    });

    it('keeps the later row when one batch holds both states of a call', async () => {
      const pending = callRow('c1');
      const final = settled(pending);
      const other = callRow('c2', { tsStart: T0 + 1 });
      await ledger.writeBatch([pending, other, final]);
      expect(await ledger.count()).toBe(2);
      expect(await ledger.queryCalls({ requestId: 'req-c1' })).toEqual([final]);
      expect(await ledger.pendingRows()).toEqual([other]);
    });

    it('renews the lease of pending rows only, never earlier, and ignores unknown ids', async () => {
      const lease = T0 + 900_000;
      const running = callRow('running');
      const retried = callRow('running', { attempt: 2, tsStart: T0 + 1 });
      const ahead = callRow('ahead', { tsStart: T0 + 2, leaseUntil: lease + 60_000 });
      const unleased = callRow('unleased', { tsStart: T0 + 3, leaseUntil: null });
      const done = settled(callRow('done', { tsStart: T0 + 4 }));
      await ledger.writeBatch([running, retried, ahead, unleased, done]);

      const renewed = await ledger.renewPendingLeases(
        [
          { callId: 'running', attempt: 2 },
          { callId: 'ahead', attempt: 1 },
          { callId: 'unleased', attempt: 1 },
          { callId: 'done', attempt: 1 },
          { callId: 'never-written', attempt: 1 },
          { callId: 'running', attempt: 7 },
        ],
        lease + 30_000,
      );
      expect(renewed).toBe(3);
      expect((await ledger.pendingRows()).map((r) => [r.callId, r.attempt, r.leaseUntil])).toEqual([
        ['running', 1, lease],
        ['running', 2, lease + 30_000],
        ['ahead', 1, lease + 60_000],
        ['unleased', 1, lease + 30_000],
      ]);
      // A final row keeps no lease and stays final; nothing was added.
      expect(await ledger.queryCalls({ requestId: 'req-done' })).toEqual([done]);
      expect(await ledger.count()).toBe(5);

      // An earlier lease never moves one back; the same id twice counts once.
      const twice = [
        { callId: 'running', attempt: 2 },
        { callId: 'running', attempt: 2 },
      ];
      expect(await ledger.renewPendingLeases(twice, lease + 1)).toBe(1);
      expect(await ledger.renewPendingLeases([], lease + 90_000)).toBe(0);
      const [, second] = await ledger.pendingRows();
      expect(second?.leaseUntil).toBe(lease + 30_000);

      // Once the call settles, renewal no longer finds it.
      await ledger.writeBatch([settled(retried)]);
      expect(await ledger.renewPendingLeases([{ callId: 'running', attempt: 2 }], lease + 90_000)).toBe(0);
      expect(await ledger.queryCalls({ requestId: 'req-running', status: 'ok' })).toEqual([settled(retried)]);
    });

    it('keeps each attempt of a call as its own row', async () => {
      const first = settled(callRow('c1', { attempt: 1 }), { status: 'upstream_error', httpStatus: 502 });
      const second = settled(callRow('c1', { attempt: 2, tsStart: T0 + 500 }), { action: 'failover' });
      await ledger.writeBatch([first, second]);
      expect(await ledger.count()).toBe(2);
      expect((await ledger.queryCalls({})).map((r) => [r.attempt, r.status])).toEqual([
        [2, 'ok'],
        [1, 'upstream_error'],
      ]);
    });

    it('lists pending rows oldest first', async () => {
      await ledger.writeBatch([
        callRow('late', { tsStart: T0 + 300 }),
        settled(callRow('done', { tsStart: T0 })),
        callRow('early', { tsStart: T0 + 100 }),
        callRow('middle', { tsStart: T0 + 200 }),
      ]);
      expect(ids(await ledger.pendingRows())).toEqual(['early', 'middle', 'late']);
    });

    it('iterates settled rows from a time, oldest first, skipping pending ones', async () => {
      await ledger.writeBatch([
        settled(callRow('d', { tsStart: T0 + 40 })),
        settled(callRow('too-old', { tsStart: T0 - 1 })),
        callRow('pending', { tsStart: T0 + 20 }),
        settled(callRow('b', { tsStart: T0 + 10 }), { status: 'denied', cost: 0 }),
        settled(callRow('a', { tsStart: T0 })),
        settled(callRow('c', { tsStart: T0 + 30 }), { status: 'orphaned' }),
      ]);
      const seen: CallRecord[] = [];
      for await (const row of ledger.iterateSettledSince(T0)) seen.push(row);
      expect(ids(seen)).toEqual(['a', 'b', 'c', 'd']);
      expect(seen[2]).toEqual(settled(callRow('c', { tsStart: T0 + 30 }), { status: 'orphaned' }));
    });

    it('writes and streams thousands of rows in one batch, none lost or repeated', async () => {
      // More rows than one PostgreSQL statement can bind, many sharing a timestamp.
      const rows = Array.from({ length: 3_500 }, (_, i) =>
        settled(callRow(`bulk-${String(i).padStart(5, '0')}`, { tsStart: T0 + Math.floor(i / 7) }), {
          cost: i,
        }),
      );
      await ledger.writeBatch(rows);
      expect(await ledger.count()).toBe(3_500);
      const seen: CallRecord[] = [];
      for await (const row of ledger.iterateSettledSince(T0)) seen.push(row);
      expect(seen.length).toBe(3_500);
      expect(new Set(ids(seen)).size).toBe(3_500);
      for (let i = 1; i < seen.length; i++) {
        expect((seen[i]?.tsStart ?? 0) >= (seen[i - 1]?.tsStart ?? 0)).toBe(true);
      }
      const [usage] = await ledger.usage('team', {});
      expect(usage?.cost).toBe((3_499 * 3_500) / 2);
    });

    it('filters calls and returns them newest first', async () => {
      await ledger.writeBatch([
        settled(callRow('a', { tsStart: T0 + 1, team: 'search', project: 'ranker', env: 'prod' })),
        settled(
          callRow('b', { tsStart: T0 + 2, team: 'ads', project: 'bidder', env: 'dev', keyId: 'key-2' }),
        ),
        settled(callRow('c', { tsStart: T0 + 3, modelUsed: 'gpt-4o-mini', requestId: 'shared' }), {
          status: 'denied',
        }),
        callRow('d', { tsStart: T0 + 4, requestId: 'shared' }),
        settled(callRow('e', { tsStart: T0 + 5, project: 'crawler' }), { status: 'upstream_error' }),
      ]);
      expect(ids(await ledger.queryCalls({}))).toEqual(['e', 'd', 'c', 'b', 'a']);
      expect(ids(await ledger.queryCalls({ team: 'ads' }))).toEqual(['b']);
      expect(ids(await ledger.queryCalls({ project: 'ranker' }))).toEqual(['d', 'c', 'a']);
      expect(ids(await ledger.queryCalls({ env: 'dev' }))).toEqual(['b']);
      expect(ids(await ledger.queryCalls({ keyId: 'key-2' }))).toEqual(['b']);
      expect(ids(await ledger.queryCalls({ model: 'gpt-4o-mini' }))).toEqual(['c']);
      expect(ids(await ledger.queryCalls({ status: 'pending' }))).toEqual(['d']);
      expect(ids(await ledger.queryCalls({ status: 'denied' }))).toEqual(['c']);
      expect(ids(await ledger.queryCalls({ requestId: 'shared' }))).toEqual(['d', 'c']);
      expect(ids(await ledger.queryCalls({ from: T0 + 2, to: T0 + 4 }))).toEqual(['c', 'b']);
      expect(ids(await ledger.queryCalls({ team: 'search', from: T0 + 3 }))).toEqual(['e', 'd', 'c']);
      expect(ids(await ledger.queryCalls({ team: 'nobody' }))).toEqual([]);
    });

    it('pages with limit and a before cursor, and bounds the limit', async () => {
      const rows = Array.from({ length: 150 }, (_, i) =>
        settled(callRow(`p${String(i).padStart(3, '0')}`, { tsStart: T0 + i })),
      );
      await ledger.writeBatch(rows);
      expect((await ledger.queryCalls({})).length).toBe(100);
      const page1 = await ledger.queryCalls({ limit: 3 });
      expect(ids(page1)).toEqual(['p149', 'p148', 'p147']);
      const page2 = await ledger.queryCalls({ limit: 3, before: page1.at(-1)?.tsStart });
      expect(ids(page2)).toEqual(['p146', 'p145', 'p144']);
      expect(ids(await ledger.queryCalls({ limit: 0 }))).toEqual(['p149']);
      expect((await ledger.queryCalls({ limit: 1_000_000 })).length).toBe(150);
      expect(ids(await ledger.queryCalls({ before: T0 + 2 }))).toEqual(['p001', 'p000']);
    });

    it('sums usage per group exactly, with every counter', async () => {
      await ledger.writeBatch([
        settled(callRow('s1', { team: 'search' }), { cost: 1_000, inputTokens: 10, outputTokens: 5 }),
        settled(callRow('s2', { team: 'search', tsStart: T0 + 1 }), {
          cost: 2_500,
          inputTokens: 20,
          outputTokens: 15,
          cacheReadTokens: 4,
          cacheWriteTokens: 3,
          reasoningTokens: 2,
          action: 'degraded,queued',
          queueMs: 250,
        }),
        settled(callRow('s3', { team: 'search', tsStart: T0 + 2 }), {
          status: 'denied',
          cost: 0,
          inputTokens: 0,
          outputTokens: 0,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
          queueMs: 75,
        }),
        settled(callRow('a1', { team: 'ads', tsStart: T0 + 3 }), {
          status: 'upstream_error',
          cost: 9_000,
          action: 'rerouted,failover',
        }),
        settled(callRow('a2', { team: 'ads', tsStart: T0 + 4 }), { status: 'client_aborted', cost: 1 }),
        settled(callRow('a3', { team: 'ads', tsStart: T0 + 5 }), {
          status: 'orphaned',
          cost: 1,
          action: 'retry',
        }),
        callRow('x1', { team: 'infra', tsStart: T0 + 6, reserved: 99_999 }),
      ]);
      const byTeam = await ledger.usage('team', {});
      expect(byTeam).toEqual([
        {
          group: 'ads',
          calls: 3,
          inputTokens: 360,
          outputTokens: 240,
          cacheReadTokens: 30,
          cacheWriteTokens: 15,
          reasoningTokens: 21,
          cost: 9_002,
          denied: 0,
          errors: 3,
          degraded: 0,
          rerouted: 1,
          queued: 0,
          queueMs: 0,
          retried: 2,
        },
        {
          group: 'search',
          calls: 3,
          inputTokens: 30,
          outputTokens: 20,
          cacheReadTokens: 14,
          cacheWriteTokens: 8,
          reasoningTokens: 9,
          cost: 3_500,
          denied: 1,
          errors: 0,
          degraded: 1,
          rerouted: 0,
          queued: 2,
          queueMs: 325,
          retried: 0,
        },
        {
          group: 'infra',
          calls: 1,
          inputTokens: 0,
          outputTokens: 0,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 0,
          cost: 0,
          denied: 0,
          errors: 0,
          degraded: 0,
          rerouted: 0,
          queued: 0,
          queueMs: 0,
          retried: 0,
        },
      ]);
      const searchOnly = await ledger.usage('model', { team: 'search', from: T0 + 1 });
      expect(searchOnly.map((r) => [r.group, r.calls, r.cost])).toEqual([['gpt-4o', 2, 2_500]]);
    });

    it('groups usage by every dimension, a missing value as its own group first among equals', async () => {
      await ledger.writeBatch([
        settled(callRow('u1', { user: 'ana', feature: 'chat', costCenter: 'CC-1', keyId: 'k-a' }), {
          cost: 5,
        }),
        settled(callRow('u2', { user: null, tsStart: T0 + 1, keyId: 'k-b', provider: 'anthropic' }), {
          cost: 5,
        }),
        settled(callRow('u3', { user: 'bob', tsStart: T0 + 2, env: 'dev', project: 'p2' }), { cost: 7 }),
      ]);
      const group = async (by: Parameters<LedgerStore['usage']>[0]) =>
        (await ledger.usage(by, {})).map((r) => [r.group, r.cost]);
      expect(await group('user')).toEqual([
        ['bob', 7],
        [null, 5],
        ['ana', 5],
      ]);
      expect(await group('feature')).toEqual([
        [null, 12],
        ['chat', 5],
      ]);
      expect(await group('cost_center')).toEqual([
        [null, 12],
        ['CC-1', 5],
      ]);
      expect(await group('key')).toEqual([
        ['key-1', 7],
        ['k-a', 5],
        ['k-b', 5],
      ]);
      expect(await group('provider')).toEqual([
        ['openai', 12],
        ['anthropic', 5],
      ]);
      expect(await group('env')).toEqual([
        ['prod', 10],
        ['dev', 7],
      ]);
      expect(await group('project')).toEqual([
        ['ranker', 10],
        ['p2', 7],
      ]);
    });

    it('keeps money and timestamps exact up to 2^53', async () => {
      const big = settled(callRow('big', { tsStart: Number.MAX_SAFE_INTEGER - 1 }), {
        cost: 9e15,
        reserved: Number.MAX_SAFE_INTEGER,
        tsEnd: Number.MAX_SAFE_INTEGER,
        latencyMs: 4_000_000_000,
      });
      const rest = settled(callRow('rest', { tsStart: T0 }), { cost: 7_199_254_740_991 });
      await ledger.writeBatch([big, rest]);
      expect(await ledger.queryCalls({ requestId: 'req-big' })).toEqual([big]);
      const [total] = await ledger.usage('team', {});
      // 9e15 + 7_199_254_740_991 = 2^53 - 1, the largest sum a counter may reach.
      expect(total?.cost).toBe(Number.MAX_SAFE_INTEGER);
    });
  });
}
