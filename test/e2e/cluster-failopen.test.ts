import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import type { CallRecord } from '../../src/ledger/types.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import { FailOpenCounters } from '../../src/store/redis/failOpenCounters.ts';
import { MASTER, TEST_MODELS, TEST_ORGS } from '../helpers/harness.ts';
import { type PostgresServer, postgresOrWarn, startPostgresServer } from '../helpers/postgresServer.ts';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../helpers/redisServer.ts';
import { waitFor } from '../helpers/waitFor.ts';

/**
 * Issue 7 item 4: a budget may fail open while Redis is down, against a per-replica allowance.
 * Two in-process replicas on a real Redis and PostgreSQL. Redis is SIGKILLed and restarted empty
 * (no persistence): the rebuild from the ledger already holds the calls admitted locally, so their
 * replay must not add them again — the counters equal the ledger afterwards.
 */

const canRun = redisSuitesCanRun() && postgresOrWarn() !== null;
const USD = 1_000_000_000;
const ALLOWANCE_NANOS = USD / 100;

interface Reply {
  status: number;
  code: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(url: string, secret: string): Promise<Reply> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 200,
    }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  const code =
    res.status === 200 ? null : ((JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null);
  return { status: res.status, code };
}

function failOpenOf(g: Gateway): FailOpenCounters {
  const counters = g.services.budgets.counters;
  if (!(counters instanceof FailOpenCounters)) throw new Error('cluster counters do not fail open');
  return counters;
}

describe.skipIf(!canRun)('cluster mode: per-budget fail-open while Redis is down', () => {
  let redis: RedisServer;
  let pg: PostgresServer;
  let mock: MockServer;
  let dir: string;
  const replicas: Gateway[] = [];

  beforeAll(async () => {
    [redis, pg, mock] = await Promise.all([
      startRedisServer(),
      startPostgresServer(),
      startMock({ port: 0, outputTokens: 1000 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tollgate-failopen-'));
    for (let i = 0; i < 2; i++) {
      const config = parseConfig({
        server: { port: 0, master_key: MASTER },
        storage: {
          sqlite: join(dir, `replica-${i}.db`),
          spool: join(dir, `replica-${i}.spool`),
          redis: redis.url,
          redis_prefix: 'failopen',
          postgres: pg.url,
          postgres_schema: 'failopen',
        },
        providers: { mock: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k' } },
        models: TEST_MODELS,
        orgs: TEST_ORGS,
        budgets: [
          {
            id: 'search-open',
            match: { team: 'search' },
            limit: { usd: 1 },
            on_store_down: { mode: 'open', allowance_usd: '0.01' },
          },
          { id: 'support-closed', match: { team: 'support' }, limit: { usd: 1 } },
        ],
        // Rate limits live in Redis too: while it is down they follow the call's budgets (search:
        // limited on each replica alone; support: refused with the 503).
        rate_limits: [
          { id: 'search-rpm', match: { team: 'search' }, rpm: 1_000, concurrency: 4 },
          { id: 'support-rpm', match: { team: 'support' }, rpm: 1_000 },
        ],
      });
      replicas.push(await startGateway({ config, port: 0, logger: pino({ level: 'silent' }) }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const r of replicas) await r.close();
    await Promise.all([mock?.close(), redis?.stop(), pg?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const createKey = async (team: 'search' | 'support') => {
    const res = await fetch(`${replicas[0]?.url}/admin/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' },
      body: JSON.stringify({ team, project: team === 'search' ? 'ranker' : 'bot', env: 'prod' }),
    });
    return (await res.json()) as { id: string; key: string };
  };
  const rowsOf = (keyId: string): Promise<CallRecord[]> =>
    (replicas[0] as Gateway).services.store.ledger.queryCalls({ keyId, limit: 10_000 });

  it('admits the open budget up to each replica allowance, refuses the closed one; replays without double count', async () => {
    const search = await createKey('search');
    const support = await createKey('support');
    await sleep(1_200);
    for (const g of replicas) {
      expect(await call(g.url, search.key)).toEqual({ status: 200, code: null });
      expect(await call(g.url, support.key)).toEqual({ status: 200, code: null });
    }

    for (const g of replicas) await g.services.ledger.flush();
    const costBefore = (await rowsOf(search.id)).reduce((s, r) => s + r.cost, 0);

    await redis.kill();
    const admittedPerReplica: number[] = [];
    for (const g of replicas) {
      expect(await call(g.url, support.key)).toEqual({ status: 503, code: 'store_unavailable' });
      const replies: Reply[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await call(g.url, search.key);
        replies.push(r);
        if (r.status !== 200) break;
      }
      const admitted = replies.filter((r) => r.status === 200).length;
      admittedPerReplica.push(admitted);
      expect(replies.at(-1)).toEqual({ status: 429, code: 'budget_exceeded' });
      expect(admitted).toBeGreaterThanOrEqual(3);
      expect(failOpenOf(g).pendingReplays()).toBe(admitted);
    }
    for (const g of replicas) await g.services.ledger.flush();
    const outageRows = await rowsOf(search.id);
    expect(outageRows.filter((r) => r.status === 'ok').length).toBe(
      2 + admittedPerReplica.reduce((a, b) => a + b, 0),
    );
    // The calls admitted on the outage allowance say so on their ledger rows.
    expect(outageRows.filter((r) => r.action === 'admitted_fail_open').length).toBe(
      admittedPerReplica.reduce((a, b) => a + b, 0),
    );
    // Each replica stays within its own allowance: at most two allowances in all.
    const outageCost = outageRows.reduce((s, r) => s + r.cost, 0) - costBefore;
    expect(outageCost).toBeGreaterThan(0);
    expect(outageCost).toBeLessThanOrEqual(2 * ALLOWANCE_NANOS);

    // Redis back, empty: a replica rebuilds it from the ledger (which holds the outage's calls).
    await redis.restart();
    await waitFor('the open budget to use Redis again', 15_000, async () =>
      replicas.every((g) => failOpenOf(g).pendingReplays() === 0),
    );
    await waitFor('calls on every replica', 15_000, async () => {
      const round = await Promise.all(replicas.map((g) => call(g.url, support.key)));
      return round.every((r) => r.status === 200);
    });

    // Allowance spent, but Redis decides again: the $1 limit has room.
    const after = replicas[0] as Gateway;
    for (let i = 0; i < 8; i++)
      expect(await call(after.url, search.key)).toEqual({ status: 200, code: null });

    for (const g of replicas) await g.services.ledger.flush();
    const rows = await rowsOf(search.id);
    const settled = rows.reduce((s, r) => s + r.cost, 0);
    expect(rows.filter((r) => r.status === 'pending')).toEqual([]);
    const policy = after.services.budgets.get('search-open');
    if (!policy) throw new Error('no search-open policy');
    for (const g of replicas) {
      const state = await g.services.budgets.state(policy, Date.now());
      expect(state.spent.nanos).toBe(settled);
      expect(state.reserved.nanos).toBe(0);
      expect(await g.services.budgets.counters.openReservations()).toBe(0);
    }
  }, 90_000);
});
