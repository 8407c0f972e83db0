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
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import { adminRequest } from '../helpers/admin.ts';
import { type ChildGateway, killHard, spawnGateway } from '../helpers/child.ts';
import { MASTER, TEST_MODELS, TEST_ORGS } from '../helpers/harness.ts';
import { type PostgresServer, postgresOrWarn, startPostgresServer } from '../helpers/postgresServer.ts';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../helpers/redisServer.ts';
import { waitFor } from '../helpers/waitFor.ts';

/**
 * Cluster mode, lease renewal (issue 7): a call that runs longer than `ledger.lease_ms` keeps its
 * reservation, its concurrency slot and a current lease on its pending ledger row (an audit
 * mid-call passes) while its replica lives, and settles at its real cost; a replica that dies
 * mid-call stops renewing, so its reservation is still reaped after the lease.
 * Real Redis, PostgreSQL and replicas (two in process, one child process killed with SIGKILL).
 */

const canRun = redisSuitesCanRun() && postgresOrWarn() !== null;

const LEASE_MS = 3_000;
/** Stream pacing: one token per chunk. */
const INTER_CHUNK_MS = 50;
/** 150 tokens at 50 ms: 7.5 s, 2.5 leases. */
const LONG_STREAM_TOKENS = 150;
const HANG_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Key {
  id: string;
  key: string;
}

const admin = adminRequest;

interface StreamReply {
  status: number;
  callId: string | null;
  body: string;
}

/** A streaming call read to the end; rejects if the connection is cut. */
async function stream(url: string, secret: string, tokens: number): Promise<StreamReply> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      'content-type': 'application/json',
      'x-mock-output-tokens': String(tokens),
      'x-mock-ttft-ms': '50',
      'x-mock-inter-chunk-ms': String(INTER_CHUNK_MS),
    },
    body: JSON.stringify({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'a long answer' }],
      max_tokens: 2000,
      stream: true,
    }),
    signal: AbortSignal.timeout(HANG_MS),
  });
  return { status: res.status, callId: res.headers.get('x-tollgate-call-id'), body: await res.text() };
}

async function shortCall(url: string, secret: string): Promise<{ status: number; code: string | null }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, code: body.error?.code ?? null };
}

const sumCost = (rows: readonly CallRecord[]) => rows.reduce((s, r) => s + r.cost, 0);

describe.skipIf(!canRun)('cluster mode: leases of long calls are renewed', () => {
  let redis: RedisServer;
  let pg: PostgresServer;
  let mock: MockServer;
  let dir: string;
  let child: ChildGateway | null = null;
  const replicas: Gateway[] = [];

  const budgets = [
    { id: 'search-cap', match: { team: 'search' }, limit: { usd: 100 } },
    { id: 'support-cap', match: { team: 'support' }, limit: { usd: 100 } },
  ];

  function replicaConfig(replica: string): Record<string, unknown> {
    return {
      server: { port: 0, master_key: MASTER },
      storage: {
        sqlite: join(dir, `${replica}.db`),
        spool: join(dir, `${replica}.spool`),
        redis: redis.url,
        redis_prefix: 'lease',
        postgres: pg.url,
        postgres_schema: 'lease',
      },
      ledger: { lease_ms: LEASE_MS },
      providers: {
        mock: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k', forward_headers: ['x-mock-*'] },
      },
      models: TEST_MODELS,
      orgs: TEST_ORGS,
      budgets,
      rate_limits: [{ id: 'search-one-at-a-time', match: { team: 'search' }, concurrency: 1 }],
    };
  }

  beforeAll(async () => {
    [redis, pg, mock] = await Promise.all([
      startRedisServer(),
      startPostgresServer(),
      startMock({ port: 0, outputTokens: 16 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-lease-'));
    for (const name of ['r0', 'r1']) {
      const config = parseConfig(replicaConfig(name));
      replicas.push(await startGateway({ config, port: 0, logger: pino({ level: 'silent' }) }));
    }
  }, 60_000);

  afterAll(async () => {
    if (child) await killHard(child);
    for (const r of replicas) await r.close();
    await Promise.all([mock?.close(), redis?.stop(), pg?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const replica = (i: number): Gateway => {
    const g = replicas[i];
    if (!g) throw new Error(`no replica ${i}`);
    return g;
  };

  async function policyState(policyId: string) {
    const g = replica(1);
    const policy = g.services.budgets.get(policyId);
    if (!policy) throw new Error(`no policy ${policyId}`);
    return g.services.budgets.state(policy, Date.now());
  }

  /** The key's ledger rows once every call has its final row (written just after the answer). */
  async function rowsOf(keyId: string): Promise<CallRecord[]> {
    let rows: CallRecord[] = [];
    await waitFor('final ledger rows', 5_000, async () => {
      for (const r of replicas) await r.services.ledger.flush();
      rows = await replica(0).services.store.ledger.queryCalls({ keyId, limit: 1_000 });
      return rows.every((r) => r.status !== 'pending');
    });
    return rows;
  }

  async function expectAuditPasses(): Promise<void> {
    for (const r of replicas) await r.services.ledger.flush();
    const report = await admin<AuditReport>(replica(0).url, 'POST', '/admin/v1/audit', {});
    const failing = report.checks.filter((c) => !c.ok);
    expect(failing, JSON.stringify(failing, null, 2)).toEqual([]);
  }

  it('a stream of 2.5 leases keeps its reservation and concurrency slot, and settles at its real cost', async () => {
    const search = await admin<Key>(replica(0).url, 'POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'prod',
    });
    await sleep(1_200); // the other replica loads the new key within a second
    const startedAt = Date.now();
    const long = stream(replica(0).url, search.key, LONG_STREAM_TOKENS);
    // Cut short by a failed expectation, the stream's end must not be an unhandled rejection.
    long.catch(() => undefined);

    // 1.5 leases in, with both replicas' reapers running every second: still held.
    await sleep(LEASE_MS * 1.5);
    const counters = replica(1).services.budgets.counters;
    expect(await counters.openReservations()).toBe(1);
    expect((await policyState('search-cap')).reserved.requests).toBe(1);
    expect(await replica(1).services.rateLimiter.openCount()).toBe(1);
    // The slot still counts on the other replica: concurrency 1 refuses a second call.
    expect(await shortCall(replica(1).url, search.key)).toEqual({ status: 429, code: 'rate_limited' });
    // The pending row's lease moved with the reservation's: an audit now sees a live call, not an
    // orphan (no expired_lease), whichever replica reads the ledger.
    await expectAuditPasses();
    const [pendingRow, ...otherPending] = await replica(1).services.store.ledger.pendingRows();
    expect(otherPending).toEqual([]);
    if (!pendingRow) throw new Error('no pending row for the running call');
    expect(pendingRow.leaseUntil ?? 0).toBeGreaterThan(pendingRow.tsStart + LEASE_MS);
    expect(pendingRow.leaseUntil ?? 0).toBeGreaterThan(Date.now());

    const reply = await long;
    expect(Date.now() - startedAt).toBeGreaterThan(LEASE_MS * 2.4);
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('data: [DONE]');

    const limiter = replica(0).services.rateLimiter;
    await waitFor(
      'the call to settle',
      5_000,
      async () => (await counters.openReservations()) === 0 && (await limiter.openCount()) === 0,
    );
    expect(await shortCall(replica(1).url, search.key)).toEqual({ status: 200, code: null });
    const rows = await rowsOf(search.id);
    const longRow = rows.find((r) => r.callId === reply.callId);
    if (!longRow) throw new Error('no ledger row for the long call');
    expect(longRow.status).toBe('ok');
    expect(longRow.flags ?? '').not.toContain('orphaned_settled_at_reserved');
    expect(longRow.usageSource).toBe('provider');
    expect(longRow.outputTokens).toBe(LONG_STREAM_TOKENS);
    expect(longRow.cost).toBeGreaterThan(0);
    expect(longRow.cost).toBeLessThan(longRow.reserved);

    // Budget spent equals the ledger: the call was booked once, at its real cost.
    const state = await policyState('search-cap');
    expect(state.spent.nanos).toBe(sumCost(rows));
    expect(state.reserved).toEqual({ nanos: 0, tokens: 0, requests: 0 });
    await expectAuditPasses();
  }, 60_000);

  it('Redis emptied mid-call: the rebuilt reservation of a call past its first lease is not reaped while it runs', async () => {
    const search = await admin<Key>(replica(0).url, 'POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'dev',
    });
    await sleep(1_200);
    const long = stream(replica(0).url, search.key, LONG_STREAM_TOKENS);
    // Past the lease written on its pending row: only renewals in Redis keep it alive.
    await sleep(LEASE_MS * 1.5);
    await redis.restart();
    const counters = replica(1).services.budgets.counters;
    await waitFor('the counters to be rebuilt', 10_000, async () => {
      try {
        return (await counters.openReservations()) === 1;
      } catch {
        return false;
      }
    });
    // Reapers run every second: a second and a half later the call is still held.
    await sleep(1_500);
    expect(await counters.openReservations()).toBe(1);

    const reply = await long;
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('data: [DONE]');
    const rows = await rowsOf(search.id);
    const longRow = rows.find((r) => r.callId === reply.callId);
    if (!longRow) throw new Error('no ledger row for the long call');
    expect(longRow.status).toBe('ok');
    expect(longRow.flags ?? '').not.toContain('orphaned_settled_at_reserved');
    expect(longRow.usageSource).toBe('provider');
    await waitFor('the call to settle', 5_000, async () => (await counters.openReservations()) === 0);
    const state = await policyState('search-cap');
    // Rebuilt from the ledger, then settled once: spent equals every row of the team.
    const teamRows = await replica(0).services.store.ledger.queryCalls({ team: 'search', limit: 1_000 });
    expect(state.spent.nanos).toBe(sumCost(teamRows));
  }, 60_000);

  it('a replica killed mid-call stops renewing: its reservation is reaped after the lease, at reserved', async () => {
    const support = await admin<Key>(replica(0).url, 'POST', '/admin/v1/keys', {
      team: 'support',
      project: 'bot',
      env: 'prod',
    });
    const configFile = join(dir, 'child.yaml');
    writeFileSync(configFile, stringify(replicaConfig('child')));
    child = await spawnGateway(['--config', configFile], { TOLLGATE_MASTER_KEY: MASTER });

    const before = mock.stats.streamsStarted;
    // 400 tokens: 20 s, far longer than the child lives.
    const cut = stream(child.url, support.key, 400).then(
      () => 'completed',
      () => 'cut',
    );
    await waitFor('the stream to start', 10_000, async () => mock.stats.streamsStarted > before);
    // Past its first lease, renewed by the child: not reaped.
    await sleep(LEASE_MS * 1.5);
    const counters = replica(0).services.budgets.counters;
    expect(await counters.openReservations()).toBe(1);
    expect((await replica(1).services.store.ledger.pendingRows()).length).toBe(1);

    await killHard(child);
    const killedAt = Date.now();
    expect(await cut).toBe('cut');
    await waitFor('the reaper', LEASE_MS + 5_000, async () => {
      const open = await counters.openReservations();
      const pending = await replica(1).services.store.ledger.pendingRows();
      return open === 0 && pending.length === 0;
    });
    // The last renewal was at most a third of a lease before the kill.
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 3_000);

    const rows = await rowsOf(support.id);
    expect(rows.length).toBe(1);
    const [row] = rows;
    if (!row) throw new Error('no ledger row');
    expect(row.status).toBe('orphaned');
    expect(row.usageSource).toBe('reserved');
    expect(row.flags).toContain('orphaned_settled_at_reserved');
    expect(row.cost).toBe(row.reserved);
    const state = await policyState('support-cap');
    expect(state.spent.nanos).toBe(row.cost);
    expect(state.reserved.nanos).toBe(0);
    await expectAuditPasses();
  }, 60_000);
});
