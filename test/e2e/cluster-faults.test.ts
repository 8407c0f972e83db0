import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import type { AuditReport } from '../../src/finops/audit/types.ts';
import type { CallRecord } from '../../src/ledger/types.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { seedCounters } from '../../src/server/cluster.ts';
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import type { LedgerStore } from '../../src/store/interface.ts';
import { RedisBudgetCounters } from '../../src/store/redis/budgetCounters.ts';
import { createCountersClient, waitUntilReady } from '../../src/store/redis/client.ts';
import { SpoolingLedgerStore } from '../../src/store/spool/spoolingLedger.ts';
import { adminRequest } from '../helpers/admin.ts';
import { type ChildGateway, killHard, spawnGateway } from '../helpers/child.ts';
import { MASTER, TEST_MODELS, TEST_ORGS } from '../helpers/harness.ts';
import { type PostgresServer, postgresOrWarn, startPostgresServer } from '../helpers/postgresServer.ts';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../helpers/redisServer.ts';
import { waitFor } from '../helpers/waitFor.ts';

/**
 * Cluster mode under faults (issue 7): Redis SIGKILLed mid-load, PostgreSQL SIGKILLed mid-load,
 * a replica SIGKILLed while it holds reservations. Real servers, real replicas; every scenario
 * ends with the counters equal to the ledger and `tollgate audit` (POST /admin/v1/audit) passing.
 * Each scenario has its own Redis prefix and PostgreSQL schema, so none sees another's state.
 */

const canRun = redisSuitesCanRun() && postgresOrWarn() !== null;

const USD = 1_000_000_000;
/** A client that waits longer than this for an answer counts as a hang. */
const HANG_MS = 20_000;
const LOAD_CALLS = 200;
/** gpt-4.1 at 2000 max tokens reserves ~$0.016 and (1000 tokens out) settles ~$0.008. */
const REDIS_CAP_NANOS = 0.3 * USD;
const CHILD_LEASE_MS = 2_000;
/** Upstream latency of calls that must outlive Redis's crash, restart and rebuild. */
const LONG_CALL_MS = 6_000;

interface Reply {
  /** 0: no answer (connection cut, or no answer within HANG_MS). */
  status: number;
  code: string | null;
  retryAfter: string | null;
  callId: string | null;
  failure: string | null;
}

interface Key {
  id: string;
  key: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * killHard, once: it only checks exitCode, which stays null for a process killed by a signal,
 * so a second call would wait forever for an 'exit' that already happened.
 */
async function killOnce(child: ChildGateway | null): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  await killHard(child);
}

function chatBody(i: number, stream: boolean, maxTokens = 2000): Record<string, unknown> {
  return {
    model: 'gpt-4.1',
    messages: [{ role: 'user', content: `call ${i}` }],
    max_tokens: maxTokens,
    stream,
  };
}

/** One call by plain fetch, body read to the end; never throws. */
async function call(
  url: string,
  secret: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Reply> {
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(HANG_MS),
    });
    const text = await res.text();
    let code: string | null = null;
    if (res.status !== 200) {
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
      } catch {
        code = null;
      }
    }
    return {
      status: res.status,
      code,
      retryAfter: res.headers.get('retry-after'),
      callId: res.headers.get('x-tollgate-call-id'),
      failure: null,
    };
  } catch (err) {
    return { status: 0, code: null, retryAfter: null, callId: null, failure: String(err) };
  }
}

const admin = adminRequest;

const createKey = (g: Gateway, team: 'search' | 'support') =>
  admin<Key>(g.url, 'POST', '/admin/v1/keys', {
    team,
    project: team === 'search' ? 'ranker' : 'bot',
    env: 'prod',
  });

/** The audit through the admin API, as `tollgate audit` runs it; the failing checks in the message. */
async function expectAuditPasses(g: Gateway): Promise<void> {
  const report = await admin<AuditReport>(g.url, 'POST', '/admin/v1/audit', {});
  const failing = report.checks.filter((c) => !c.ok);
  expect(failing, JSON.stringify(failing, null, 2)).toEqual([]);
  expect(report.ok).toBe(true);
}

async function ledgerRows(g: Gateway, keyId: string): Promise<CallRecord[]> {
  return g.services.store.ledger.queryCalls({ keyId, limit: 10_000 });
}

const sumCost = (rows: readonly CallRecord[]) => rows.reduce((s, r) => s + r.cost, 0);
const sumReserved = (rows: readonly CallRecord[]) => rows.reduce((s, r) => s + r.reserved, 0);

function spoolOf(g: Gateway): SpoolingLedgerStore {
  const ledger = g.services.store.ledger;
  if (!(ledger instanceof SpoolingLedgerStore)) throw new Error('cluster ledger is not spooled');
  return ledger;
}

/** Live spend and reservations of a policy, as every replica reads them from Redis. */
async function policyState(g: Gateway, policyId: string) {
  const policy = g.services.budgets.get(policyId);
  if (!policy) throw new Error(`no policy ${policyId}`);
  return g.services.budgets.state(policy, Date.now());
}

/** Every replica idle: no close waiting for Redis, no ledger row waiting for PostgreSQL. */
async function quiesce(replicas: readonly Gateway[]): Promise<void> {
  await waitFor('deferred closes to drain', 10_000, async () =>
    replicas.every((r) => r.services.closes.size() === 0),
  );
  for (const r of replicas) {
    await r.services.ledger.flush();
    await waitFor('the spool to drain', 15_000, () => spoolOf(r).drain());
  }
}

describe.skipIf(!canRun)('cluster mode under faults', () => {
  let redis: RedisServer;
  let pg: PostgresServer;
  let mock: MockServer;
  let dir: string;
  let child: ChildGateway | null = null;

  beforeAll(async () => {
    [redis, pg, mock] = await Promise.all([
      startRedisServer(),
      startPostgresServer(),
      startMock({ port: 0, outputTokens: 1000 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-faults-'));
  });

  afterAll(async () => {
    await killOnce(child);
    await Promise.all([mock?.close(), redis?.stop(), pg?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** tollgate.yaml of one replica of scenario `tag`: shared Redis + PostgreSQL, its own local files. */
  function replicaConfig(
    tag: string,
    replica: string,
    budgets: unknown[],
    leaseMs?: number,
  ): Record<string, unknown> {
    return {
      server: { port: 0, master_key: MASTER },
      storage: {
        sqlite: join(dir, `${tag}-${replica}.db`),
        spool: join(dir, `${tag}-${replica}.spool`),
        redis: redis.url,
        redis_prefix: `faults-${tag}`,
        postgres: pg.url,
        postgres_schema: `faults_${tag}`,
      },
      ...(leaseMs === undefined ? {} : { ledger: { lease_ms: leaseMs } }),
      providers: {
        mock: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k', forward_headers: ['x-mock-*'] },
      },
      models: TEST_MODELS,
      orgs: TEST_ORGS,
      budgets,
    };
  }

  async function startReplicas(
    tag: string,
    count: number,
    budgets: unknown[],
    leaseMs?: number,
  ): Promise<Gateway[]> {
    const replicas: Gateway[] = [];
    for (let i = 0; i < count; i++) {
      const config = parseConfig(replicaConfig(tag, String(i), budgets, leaseMs));
      replicas.push(await startGateway({ config, port: 0, logger: pino({ level: 'silent' }) }));
    }
    return replicas;
  }

  const closeAll = async (replicas: readonly Gateway[]) => {
    for (const r of replicas) await r.close();
  };

  it('Redis SIGKILLed mid-load: only 200 / 429 / 503 answers, no overspend; recovery and audit once it returns', async () => {
    const replicas = await startReplicas('redis', 3, [
      { id: 'search-cap', match: { team: 'search' }, limit: { usd: REDIS_CAP_NANOS / USD } },
      { id: 'support-cap', match: { team: 'support' }, limit: { usd: 100 } },
    ]);
    try {
      const [r0] = replicas as [Gateway, ...Gateway[]];
      const search = await createKey(r0, 'search');
      const support = await createKey(r0, 'support');
      await sleep(1_200); // the other replicas load the new keys within a second

      // Long calls admitted before the crash and still running after Redis is back: their
      // reservations must be rebuilt from their pending rows, then settled at actual.
      const longBefore = mock.stats.requests;
      const long = replicas.map((g, i) =>
        call(g.url, support.key, chatBody(i, false), { 'x-mock-latency-ms': String(LONG_CALL_MS) }),
      );
      await waitFor('long calls upstream', 10_000, async () => mock.stats.requests - longBefore >= 3);

      const before = mock.stats.requests;
      const load = Array.from({ length: LOAD_CALLS }, async (_, i) => {
        await sleep(i * 8);
        const g = replicas[i % 3] as Gateway;
        return call(g.url, search.key, chatBody(i, i % 2 === 0), { 'x-mock-latency-ms': '300' });
      });
      // Some calls done, some upstream (holding reservations), most not yet admitted.
      await waitFor('calls upstream', 15_000, async () => mock.stats.requests - before >= 20);
      await redis.kill();
      const replies = await Promise.all(load);

      const byStatus = (s: number) => replies.filter((r) => r.status === s);
      const unexpected = replies.filter(
        (r) =>
          !(
            r.status === 200 ||
            (r.status === 429 && r.code === 'budget_exceeded') ||
            (r.status === 503 && r.code === 'store_unavailable' && r.retryAfter !== null)
          ),
      );
      expect(unexpected).toEqual([]);
      expect(byStatus(200).length).toBeGreaterThan(0);
      expect(byStatus(503).length).toBeGreaterThan(0);
      expect(new Set(replies.map((r) => r.callId)).size).toBe(LOAD_CALLS);

      // Every call has its final ledger row (PostgreSQL stayed up); the cap held.
      for (const r of replicas) await r.services.ledger.flush();
      const rows = await ledgerRows(r0, search.id);
      expect(rows.length).toBe(LOAD_CALLS);
      expect(rows.filter((r) => r.status === 'pending')).toEqual([]);
      expect(rows.filter((r) => r.status === 'ok').length).toBe(byStatus(200).length);
      const settled = sumCost(rows);
      expect(settled).toBeGreaterThan(0);
      expect(settled).toBeLessThanOrEqual(REDIS_CAP_NANOS);

      // While Redis is down a call is refused at once with a clear 503, on every replica.
      for (const g of replicas) {
        const down = await call(g.url, support.key, chatBody(0, false, 5));
        expect([down.status, down.code, down.retryAfter]).toEqual([503, 'store_unavailable', '1']);
      }

      // Redis back, empty: no gateway restart; a replica rebuilds the counters from the ledger.
      await redis.restart();
      const probes: Reply[] = [];
      const recoveredInMs = await waitFor('calls to succeed again on every replica', 10_000, async () => {
        const round = await Promise.all(
          replicas.map((g) => call(g.url, support.key, chatBody(probes.length, false, 5))),
        );
        probes.push(...round);
        return round.every((r) => r.status === 200);
      });
      expect(recoveredInMs).toBeLessThan(6_000);
      expect(probes.filter((p) => p.status !== 200 && p.status !== 503)).toEqual([]);

      // The rebuild restored the long calls' reservations (Redis lost them in the crash).
      for (const r of replicas) await r.services.ledger.flush();
      const stillRunning = (await r0.services.store.ledger.pendingRows()).filter(
        (r) => r.keyId === support.id,
      );
      expect(stillRunning.length).toBe(3);
      const restored = await policyState(r0, 'support-cap');
      expect(restored.reserved.nanos).toBe(sumReserved(stillRunning));
      expect(await r0.services.budgets.counters.openReservations()).toBe(3);
      const longReplies = await Promise.all(long);
      expect(longReplies.map((r) => r.status)).toEqual([200, 200, 200]);

      await quiesce(replicas);
      const searchState = await policyState(replicas[1] as Gateway, 'search-cap');
      expect(searchState.spent.nanos).toBe(settled);
      expect(searchState.spent.requests).toBe(rows.filter((r) => r.cost > 0).length);
      expect(searchState.reserved.nanos).toBe(0);
      const supportRows = await ledgerRows(r0, support.id);
      const supportState = await policyState(replicas[2] as Gateway, 'support-cap');
      expect(supportState.spent.nanos).toBe(sumCost(supportRows));
      expect(supportState.reserved.nanos).toBe(0);
      const longRows = supportRows.filter((r) => longReplies.some((l) => l.callId === r.callId));
      expect(longRows.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
      // Settled at what they cost, not reaped at what they reserved.
      for (const r of longRows) expect(r.cost).toBeLessThan(r.reserved);
      expect(await r0.services.budgets.counters.openReservations()).toBe(0);
      await expectAuditPasses(replicas[2] as Gateway);
    } finally {
      await closeAll(replicas);
    }
  }, 60_000);

  it('PostgreSQL SIGKILLed mid-load: every call answered, spooled, and exactly one final row each once it returns', async () => {
    const replicas = await startReplicas('pg', 3, [
      { id: 'search-cap', match: { team: 'search' }, limit: { usd: 100 } },
    ]);
    try {
      const [r0] = replicas as [Gateway, ...Gateway[]];
      const search = await createKey(r0, 'search');
      await sleep(1_200);

      const before = mock.stats.requests;
      const load = Array.from({ length: LOAD_CALLS }, async (_, i) => {
        await sleep(i * 8);
        const g = replicas[i % 3] as Gateway;
        return call(g.url, search.key, chatBody(i, i % 2 === 0), { 'x-mock-latency-ms': '150' });
      });
      await waitFor('calls upstream', 15_000, async () => mock.stats.requests - before >= 50);
      await pg.kill();
      const replies = await Promise.all(load);

      expect(replies.filter((r) => r.status !== 200)).toEqual([]);
      const callIds = replies.map((r) => r.callId);
      expect(new Set(callIds).size).toBe(LOAD_CALLS);
      // The rows of the calls after the kill are on local disk, not lost.
      for (const r of replicas) await r.services.ledger.flush();
      const spooled = replicas.reduce((n, r) => n + spoolOf(r).spooled(), 0);
      expect(spooled).toBeGreaterThan(0);

      await pg.restart();
      await quiesce(replicas);
      expect(replicas.map((r) => spoolOf(r).spooled())).toEqual([0, 0, 0]);

      const rows = await ledgerRows(r0, search.id);
      expect(rows.length).toBe(LOAD_CALLS);
      expect(rows.map((r) => r.callId).sort()).toEqual([...callIds].sort());
      expect(rows.filter((r) => r.status !== 'ok' || r.attempt !== 1)).toEqual([]);
      expect(await r0.services.store.ledger.pendingRows()).toEqual([]);

      const state = await policyState(replicas[1] as Gateway, 'search-cap');
      expect(state.spent.nanos).toBe(sumCost(rows));
      expect(state.spent.requests).toBe(LOAD_CALLS);
      expect(state.reserved.nanos).toBe(0);
      expect(await r0.services.budgets.counters.openReservations()).toBe(0);
      await expectAuditPasses(replicas[2] as Gateway);
    } finally {
      await closeAll(replicas);
    }
  }, 60_000);

  it('kill -9 of a replica holding reservations: another replica reaps them at reserved, flags the rows; audit passes', async () => {
    const budgets = [{ id: 'search-cap', match: { team: 'search' }, limit: { usd: 100 } }];
    const replicas = await startReplicas('reap', 2, budgets, CHILD_LEASE_MS);
    try {
      const [r0, r1] = replicas as [Gateway, Gateway];
      const search = await createKey(r0, 'search');
      const configFile = join(dir, 'reap-child.yaml');
      writeFileSync(configFile, stringify(replicaConfig('reap', 'child', budgets, CHILD_LEASE_MS)));
      child = await spawnGateway(['--config', configFile], { TOLLGATE_MASTER_KEY: MASTER });
      const childUrl = child.url;

      // Slow streams (400 tokens, 50 ms apart): still running when the replica dies.
      const streams = 8;
      const before = mock.stats.streamsStarted;
      const callIds: string[] = [];
      const cut = Array.from({ length: streams }, async (_, i) => {
        try {
          const res = await fetch(`${childUrl}/v1/chat/completions`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${search.key}`,
              'content-type': 'application/json',
              'x-mock-output-tokens': '400',
              'x-mock-ttft-ms': '50',
              'x-mock-inter-chunk-ms': '50',
            },
            body: JSON.stringify(chatBody(i, true)),
            signal: AbortSignal.timeout(HANG_MS),
          });
          callIds.push(res.headers.get('x-tollgate-call-id') ?? `missing ${res.status}`);
          await res.text();
          return 'completed';
        } catch {
          return 'cut';
        }
      });
      await waitFor('streams to start', 10_000, async () => mock.stats.streamsStarted - before >= streams);
      const counters = r0.services.budgets.counters;
      expect(await counters.openReservations()).toBe(streams);
      expect((await r1.services.store.ledger.pendingRows()).length).toBe(streams);

      await killOnce(child);
      const killedAt = Date.now();
      expect(await Promise.all(cut)).toEqual(Array.from({ length: streams }, () => 'cut'));

      // Reaped by a live replica within lease + a few seconds: no reservation, no pending row left.
      await waitFor('the reaper', CHILD_LEASE_MS + 5_000, async () => {
        const open = await counters.openReservations();
        const pending = await r1.services.store.ledger.pendingRows();
        return open === 0 && pending.length === 0;
      });
      expect(Date.now() - killedAt).toBeLessThan(CHILD_LEASE_MS + 4_000);

      const rows = await ledgerRows(r1, search.id);
      expect(rows.map((r) => r.callId).sort()).toEqual([...callIds].sort());
      for (const r of rows) {
        expect(r.status).toBe('orphaned');
        expect(r.usageSource).toBe('reserved');
        expect(r.flags).toContain('orphaned_settled_at_reserved');
        expect(r.cost).toBe(r.reserved);
        expect(r.cost).toBeGreaterThan(0);
        expect(r.leaseUntil).toBeNull();
        expect(r.tsEnd).not.toBeNull();
      }
      const state = await policyState(r1, 'search-cap');
      expect(state.spent.nanos).toBe(sumCost(rows));
      expect(state.spent.requests).toBe(streams);
      expect(state.reserved.nanos).toBe(0);
      await expectAuditPasses(r0);
    } finally {
      await killOnce(child);
      child = null;
      await closeAll(replicas);
    }
  }, 60_000);

  it('a call that settles while a replica rebuilds the counters is counted once, not twice', async () => {
    const budgets = [{ id: 'search-cap', match: { team: 'search' }, limit: { usd: 100 } }];
    const [g] = (await startReplicas('seed', 1, budgets)) as [Gateway];
    const client = createCountersClient(redis.url);
    try {
      const search = await createKey(g, 'search');
      expect((await call(g.url, search.key, chatBody(0, false))).status).toBe(200);
      await g.services.ledger.flush();
      const [final] = await ledgerRows(g, search.id);
      if (!final) throw new Error('no ledger row');
      // The rebuild reads the pending rows while the call runs, then the settled rows after its
      // final row landed: the ledger it sees holds the call on both sides.
      const real = g.services.store.ledger;
      const racing: LedgerStore = {
        writeBatch: (rows) => real.writeBatch(rows),
        pendingRows: async () => [
          { ...final, status: 'pending', cost: 0, tsEnd: null, leaseUntil: final.tsStart + 60_000 },
        ],
        renewPendingLeases: (ids, leaseUntilMs) => real.renewPendingLeases(ids, leaseUntilMs),
        iterateSettledSince: (fromMs) => real.iterateSettledSince(fromMs),
        queryCalls: (filter) => real.queryCalls(filter),
        usage: (by, filter) => real.usage(by, filter),
        count: () => real.count(),
      };
      await waitUntilReady(client);
      const counters = new RedisBudgetCounters(client, {
        prefix: 'faults-rebuilt:{budgets}',
        leaseMs: 60_000,
      });
      await seedCounters(
        {
          ...g.services,
          store: { ...g.services.store, ledger: racing },
          reloadPolicies: async () => {},
        },
        counters,
      );
      // Then the call's close, deferred while the counters were not seeded, lands.
      const tokens = final.inputTokens + final.outputTokens + final.cacheReadTokens + final.cacheWriteTokens;
      expect(
        await counters.settle(`${final.callId}#${final.attempt}`, { nanos: final.cost, tokens, requests: 1 }),
      ).toBe(true);
      const policy = g.services.budgets.get('search-cap');
      if (!policy) throw new Error('no policy');
      const state = await counters.state(policy, Date.now());
      expect(state.spent).toEqual({ nanos: final.cost, tokens, requests: 1 });
      expect(state.reserved.nanos).toBe(0);
      expect(await counters.openReservations()).toBe(0);
    } finally {
      client.disconnect();
      await closeAll([g]);
    }
  });
});
