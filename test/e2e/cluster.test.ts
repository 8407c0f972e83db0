import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import { MASTER, TEST_MODELS, TEST_ORGS } from '../helpers/harness.ts';
import { type PostgresServer, postgresOrWarn, startPostgresServer } from '../helpers/postgresServer.ts';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../helpers/redisServer.ts';

/**
 * Cluster mode: three gateway replicas on one Redis and one PostgreSQL (real servers), calls
 * spread round-robin. The embedded guarantees must hold across replicas: a cap is never
 * overspent, counters equal the ledger, rate limits are shared (not ×3), revocation reaches
 * every replica within a second.
 */

const canRun = redisSuitesCanRun() && postgresOrWarn() !== null;
const CAP_NANOS = 1_000_000_000;

describe.skipIf(!canRun)('three replicas on Redis + PostgreSQL', () => {
  let redis: RedisServer;
  let pg: PostgresServer;
  let mock: MockServer;
  let dir: string;
  const replicas: Gateway[] = [];

  beforeAll(async () => {
    [redis, pg, mock] = await Promise.all([
      startRedisServer(),
      startPostgresServer(),
      startMock({ port: 0, outputTokens: 5000, latencyMs: 20 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
    for (let i = 0; i < 3; i++) {
      const config = parseConfig({
        server: { port: 0, master_key: MASTER },
        storage: {
          sqlite: join(dir, `replica-${i}.db`),
          spool: join(dir, `replica-${i}.spool`),
          redis: redis.url,
          postgres: pg.url,
        },
        providers: {
          mock: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k', forward_headers: ['x-mock-*'] },
        },
        models: TEST_MODELS,
        orgs: TEST_ORGS,
        budgets: [{ id: 'search-cap', match: { team: 'search' }, limit: { usd: 1 } }],
      });
      replicas.push(await startGateway({ config, port: 0, logger: pino({ level: 'silent' }) }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const r of replicas) await r.close();
    await Promise.all([mock?.close(), redis?.stop(), pg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const admin = async <T>(i: number, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${replicas[i]!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const client = (i: number, secret: string) =>
    new OpenAI({ baseURL: `${replicas[i]!.url}/v1`, apiKey: secret, maxRetries: 0, timeout: 60_000 });
  const settle = () => new Promise((r) => setTimeout(r, 1_200));

  it('a key created on one replica works on every replica within a second', async () => {
    const created = await admin<{ id: string; key: string }>(0, 'POST', '/admin/v1/keys', {
      team: 'support',
      project: 'bot',
      env: 'prod',
    });
    expect(created.status).toBe(201);
    await settle();
    for (let i = 0; i < 3; i++) {
      const r = await client(i, created.body.key).chat.completions.create({
        model: 'gpt-4.1-mini',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 5,
      });
      expect(r.usage?.completion_tokens).toBe(5);
    }
    // Revoked on replica 2: refused everywhere within a second.
    expect((await admin(2, 'DELETE', `/admin/v1/keys/${created.body.id}`)).status).toBe(200);
    await settle();
    for (let i = 0; i < 3; i++) {
      await expect(
        client(i, created.body.key).chat.completions.create({
          model: 'gpt-4.1-mini',
          messages: [{ role: 'user', content: 'hi' }],
        }),
      ).rejects.toMatchObject({ status: 401 });
    }
  });

  it('1,000 concurrent calls (half streaming) round-robin against a $1 cap: never above it; counters = ledger', async () => {
    const created = await admin<{ id: string; key: string }>(0, 'POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'prod',
    });
    await settle();
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const c = client(i % 3, created.body.key);
        const body = {
          model: 'gpt-4.1',
          messages: [{ role: 'user' as const, content: `call ${i}` }],
          max_tokens: 2000,
        };
        try {
          if (i % 2 === 0) {
            const stream = await c.chat.completions.create({ ...body, stream: true });
            for await (const _ of stream) void _;
          } else {
            await c.chat.completions.create(body);
          }
          return 'ok';
        } catch (err) {
          return String((err as { status?: number }).status);
        }
      }),
    );
    const ok = results.filter((r) => r === 'ok').length;
    expect(ok).toBeGreaterThan(10);
    expect(results.filter((r) => r === '429').length).toBe(1000 - ok);
    for (const r of replicas) await r.services.ledger.flush();
    const rows = await replicas[0]!.services.store.ledger.queryCalls({ team: 'search', limit: 10_000 });
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(settled).toBeLessThanOrEqual(CAP_NANOS);
    expect(settled).toBeGreaterThan(CAP_NANOS * 0.5);
    expect(rows.filter((r) => r.status === 'ok').length).toBe(ok);
    const policy = replicas[1]!.services.budgets.get('search-cap')!;
    const state = await replicas[1]!.services.budgets.state(policy, Date.now());
    expect(state.spent.nanos).toBe(settled);
    expect(state.reserved.nanos).toBe(0);
    expect(await replicas[2]!.services.budgets.counters.openReservations()).toBe(0);
  }, 120_000);

  it('a key rpm of 10 holds across replicas (10 in total, not 30)', async () => {
    const created = await admin<{ id: string; key: string }>(1, 'POST', '/admin/v1/keys', {
      team: 'support',
      project: 'bot',
      env: 'dev',
      rpm: 10,
    });
    await settle();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      try {
        await client(i % 3, created.body.key).chat.completions.create({
          model: 'gpt-4.1-mini',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 5,
        });
        statuses.push(200);
      } catch (err) {
        statuses.push((err as { status: number }).status);
      }
    }
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.filter((s) => s === 429).length).toBe(20);
  });
});
