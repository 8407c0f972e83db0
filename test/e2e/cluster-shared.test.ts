import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../src/alerts/events.ts';
import { EVENT_ID_HEADER } from '../../src/alerts/sign.ts';
import type { DeliveryAttempt } from '../../src/alerts/store.ts';
import { parseConfig } from '../../src/config/load.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { type Gateway, startGateway } from '../../src/server/gateway.ts';
import { MASTER, TEST_MODELS, TEST_ORGS } from '../helpers/harness.ts';
import { type PostgresServer, postgresOrWarn, startPostgresServer } from '../helpers/postgresServer.ts';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../helpers/redisServer.ts';

/**
 * Cluster mode shares Idempotency-Key records and alert events across replicas (issue 7): a
 * retry on another replica replays instead of running and billing again, a duplicate sent to
 * another replica while the first call runs is told to wait, and a budget threshold crossed by
 * calls spread over three replicas sends one webhook for the cluster, not one per replica.
 */

const canRun = redisSuitesCanRun() && postgresOrWarn() !== null;

interface Hook {
  eventId: string;
  event: AlertEvent;
}

/** A webhook receiver on port 0 that keeps every event it is sent. */
async function startReceiver(): Promise<{ url: string; got: Hook[]; close: () => Promise<void> }> {
  const got: Hook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        eventId: String(req.headers[EVENT_ID_HEADER]),
        event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as AlertEvent,
      });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe.skipIf(!canRun)('three replicas share Idempotency-Key records and alert events', () => {
  let redis: RedisServer;
  let pg: PostgresServer;
  let mock: MockServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dir: string;
  const replicas: Gateway[] = [];

  beforeAll(async () => {
    [redis, pg, mock, receiver] = await Promise.all([
      startRedisServer(),
      startPostgresServer(),
      startMock({ port: 0, outputTokens: 20 }),
      startReceiver(),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-shared-'));
    for (let i = 0; i < 3; i++) {
      const config = parseConfig({
        server: { port: 0, master_key: MASTER },
        storage: { spool: join(dir, `replica-${i}.spool`), redis: redis.url, postgres: pg.url },
        providers: {
          mock: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k', forward_headers: ['x-mock-*'] },
        },
        models: TEST_MODELS,
        orgs: TEST_ORGS,
        budgets: [
          {
            id: 'search-requests',
            match: { team: 'search' },
            limit: { requests: 10 },
            mode: 'hard',
            alerts: [0.5, 0.8],
          },
        ],
        alerts: {
          webhooks: [{ id: 'ops', url: receiver.url, secret: 'whsec_shared_0123456789abcdef' }],
          retry: { attempts: 3, initial_backoff_ms: 20, max_backoff_ms: 100 },
          timeout_ms: 2000,
        },
      });
      replicas.push(await startGateway({ config, port: 0, logger: pino({ level: 'silent' }) }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const r of replicas) await r.close();
    await Promise.all([mock?.close(), redis?.stop(), pg?.stop(), receiver?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const replica = (i: number): Gateway => {
    const r = replicas[i];
    if (!r) throw new Error(`no replica ${i}`);
    return r;
  };

  /** A key made on replica 0, once every replica has loaded it (they reload keys every second). */
  const createKey = async (team: string, project: string): Promise<{ id: string; secret: string }> => {
    const res = await fetch(`${replica(0).url}/admin/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' },
      body: JSON.stringify({ team, project, env: 'prod' }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; key: string };
    await new Promise((r) => setTimeout(r, 1_200));
    return { id: body.id, secret: body.key };
  };

  const chat = async (i: number, secret: string, content: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${replica(i).url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content }], max_tokens: 20 }),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  const ledgerRows = async (keyId: string) => {
    for (const r of replicas) await r.services.ledger.flush();
    return replica(0).services.store.ledger.queryCalls({ keyId, limit: 100 });
  };

  it('a retry on another replica replays the answer byte for byte: one upstream call, one ledger row', async () => {
    const key = await createKey('support', 'bot');
    const before = mock.stats.requests;
    const idem = { 'idempotency-key': 'order-1' };
    const first = await chat(0, key.secret, 'charge me once', idem);
    const retry = await chat(1, key.secret, 'charge me once', idem);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-tollgate-idempotent-replay')).toBeNull();
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-tollgate-idempotent-replay')).toBe('true');
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get('x-tollgate-call-id')).toBe(first.headers.get('x-tollgate-call-id'));
    expect((await chat(2, key.secret, 'charge me once', idem)).text).toBe(first.text);
    expect(mock.stats.requests - before).toBe(1);
    const callId = first.headers.get('x-tollgate-call-id');
    const rows = await ledgerRows(key.id);
    expect(rows.map((r) => [r.callId, r.status])).toEqual([[callId, 'ok']]);
    expect(rows[0]?.cost).toBeGreaterThan(0);
    // The same key with another body is a conflict on any replica (a denial row, billed nothing).
    const other = await chat(2, key.secret, 'something else', idem);
    expect(other.status).toBe(409);
    expect((JSON.parse(other.text) as { error: { code: string } }).error.code).toBe('idempotency_conflict');
    expect(mock.stats.requests - before).toBe(1);
    const after = await ledgerRows(key.id);
    expect(after.filter((r) => r.status !== 'denied').map((r) => r.callId)).toEqual([callId]);
    expect(after.filter((r) => r.status === 'denied').map((r) => [r.errorCode, r.cost])).toEqual([
      ['idempotency_conflict', 0],
    ]);
  });

  it('a duplicate sent to another replica while the first call runs gets 409 in progress', async () => {
    const key = await createKey('support', 'bot');
    const before = mock.stats.requests;
    const idem = { 'idempotency-key': 'slow-1', 'x-mock-latency-ms': '1500' };
    const [a, b] = await Promise.all([
      chat(0, key.secret, 'slow one', idem),
      chat(1, key.secret, 'slow one', idem),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    const winner = a.status === 200 ? a : b;
    expect((JSON.parse(loser.text) as { error: { code: string } }).error.code).toBe(
      'idempotency_in_progress',
    );
    expect(loser.headers.get('retry-after')).toBe('1');
    // Once the first has finished, the retry (anywhere) replays it.
    const later = await chat(2, key.secret, 'slow one', idem);
    expect(later.headers.get('x-tollgate-idempotent-replay')).toBe('true');
    expect(later.text).toBe(winner.text);
    expect(mock.stats.requests - before).toBe(1);
    // One billed row; the refused duplicate is a denial row that cost nothing.
    const rows = await ledgerRows(key.id);
    expect(rows.filter((r) => r.status !== 'denied').map((r) => r.callId)).toEqual([
      winner.headers.get('x-tollgate-call-id'),
    ]);
    expect(rows.filter((r) => r.status === 'denied').map((r) => [r.errorCode, r.cost])).toEqual([
      ['idempotency_in_progress', 0],
    ]);
  });

  it('a threshold crossed by calls spread over three replicas sends exactly one webhook', async () => {
    const key = await createKey('search', 'ranker');
    // 9 of 10 requests: past 50% at the 5th and past 80% at the 8th, by whichever replica serves
    // it; replicas that have not seen the threshold fire yet try too and must lose quietly.
    const waves = [5, 4];
    let call = 0;
    for (const size of waves) {
      const results = await Promise.all(
        Array.from({ length: size }, () => {
          const i = call++;
          return chat(i % 3, key.secret, `call ${i}`);
        }),
      );
      expect(results.map((r) => r.status)).toEqual(Array.from({ length: size }, () => 200));
      await waitFor(() => receiver.got.length >= (size === 5 ? 1 : 2));
      for (const r of replicas) await r.services.alerts.flush();
    }
    // Every replica has now observed past 80%: give a late duplicate time to show up.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const r of replicas) await r.services.alerts.flush();
    expect(receiver.got.map((h) => [h.event.policyId, h.event.threshold]).sort()).toEqual([
      ['search-requests', 0.5],
      ['search-requests', 0.8],
    ]);
    expect(new Set(receiver.got.map((h) => h.eventId)).size).toBe(2);
    // One event row per threshold and one delivery each, whichever replica is asked.
    for (let i = 0; i < 3; i++) {
      const events = await adminGet<{ data: AlertEvent[] }>(i, '/admin/v1/alerts?policy=search-requests');
      expect(events.data.map((e) => e.threshold)).toEqual([0.8, 0.5]);
      expect(events.data.map((e) => e.id).sort()).toEqual(receiver.got.map((h) => h.eventId).sort());
    }
    const deliveries = await adminGet<{ data: DeliveryAttempt[] }>(2, '/admin/v1/alerts/deliveries');
    expect(deliveries.data.map((d) => [d.targetId, d.attempt, d.ok])).toEqual([
      ['ops', 1, true],
      ['ops', 1, true],
    ]);
  }, 60_000);

  const adminGet = async <T>(i: number, path: string): Promise<T> => {
    const res = await fetch(`${replica(i).url}${path}`, { headers: { authorization: `Bearer ${MASTER}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };
});

async function waitFor(done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for webhooks');
    await new Promise((r) => setTimeout(r, 25));
  }
}
