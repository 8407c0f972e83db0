import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { type Harness, startHarness, TEST_ORGS } from '../helpers/harness.ts';
import { postChat } from '../helpers/post.ts';

/**
 * Budget actions (degrade, reroute, queue), provider failover with per-attempt ledger rows, and
 * provider allowlists — through the real server with the official openai client.
 */

const post = postChat;

async function rowsOf(h: Harness, callId: string, keyId: string): Promise<CallRecord[]> {
  await h.finalRow(callId, keyId);
  const rows = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 10_000 });
  return rows.filter((r) => r.callId === callId).sort((a, b) => a.attempt - b.attempt);
}

const hello = (model: string, max = 20) => ({
  model,
  messages: [{ role: 'user' as const, content: 'hello there' }],
  max_tokens: max,
});

describe('degrade: a cheaper model past the threshold, exactly when crossed', () => {
  let h: Harness;
  let key: { id: string; secret: string };
  beforeAll(async () => {
    h = await startHarness({
      config: {
        budgets: [
          {
            id: 'search-degrade',
            match: { team: 'search' },
            // gpt-4.1: $2 in / $8 out per 1M. Each call below costs exactly 9 in + 16 out.
            limit: { usd: '0.001' },
            degrade: { at: 0.5, to: 'gpt-4.1-mini' },
          },
        ],
      },
      mock: { outputTokens: 16 },
    });
    key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  });
  afterAll(() => h.close());

  it('switches model on the first call after spend reaches 50%, and not before', async () => {
    const seen: { model: string; degradedFrom: string | null; spentBefore: number }[] = [];
    for (let i = 0; i < 12; i++) {
      const b = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/search-degrade');
      const r = await post(h, key.secret, hello('gpt-4.1'));
      if (r.status !== 200) break;
      seen.push({
        model: String(r.headers.get('x-tollgate-model')),
        degradedFrom: r.headers.get('x-tollgate-degraded-from'),
        spentBefore: b.body.spent.nanos,
      });
      const rows = await rowsOf(h, String(r.headers.get('x-tollgate-call-id')), key.id);
      const row = rows[0]!;
      if (row.modelUsed === 'gpt-4.1-mini') {
        expect(row.fallbackFrom).toBe('gpt-4.1');
        expect(row.modelRequested).toBe('gpt-4.1');
        expect(row.action).toContain('degraded');
        expect(r.body.model).toBe('gpt-4.1-mini');
      }
    }
    const half = 500_000; // 50% of $0.001 in nanos
    expect(seen.length).toBeGreaterThan(4);
    for (const s of seen) {
      if (s.spentBefore >= half) {
        expect(s).toMatchObject({ model: 'gpt-4.1-mini', degradedFrom: 'gpt-4.1' });
      } else {
        expect(s).toMatchObject({ model: 'gpt-4.1', degradedFrom: null });
      }
    }
    expect(seen.some((s) => s.model === 'gpt-4.1')).toBe(true);
    expect(seen.some((s) => s.model === 'gpt-4.1-mini')).toBe(true);
  });
});

describe('reroute and failover across providers of the same model', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      config: (mockUrl) => ({
        providers: {
          primary: {
            kind: 'openai',
            base_url: `${mockUrl}/v1`,
            api_key: 'k',
            forward_headers: ['x-mock-*'],
            headers_timeout_ms: 1000,
            timeout_ms: 3000,
          },
          prepaid: { kind: 'openai-compatible', base_url: `${mockUrl}/v1`, api_key: 'k' },
          flaky: {
            kind: 'openai',
            base_url: `${mockUrl}/v1`,
            api_key: 'k',
            headers: { 'x-mock-fault': '503' },
          },
          dead: { kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'k' },
        },
        models: [
          { id: 'gpt-4.1', provider: 'primary' },
          { id: 'gpt-4.1', provider: 'prepaid', upstream_model: 'gpt-4.1' },
          { id: 'gpt-4.1-mini', provider: 'flaky' },
          { id: 'gpt-4.1-mini', provider: 'primary' },
          { id: 'gpt-4o-mini', provider: 'flaky' },
          { id: 'gpt-4o', provider: 'dead' },
          { id: 'gpt-4o', provider: 'primary' },
        ],
        orgs: TEST_ORGS,
        budgets: [
          {
            id: 'primary-cap',
            match: { provider: 'primary', model: 'gpt-4.1' },
            limit: { requests: 2 },
            clamp: false,
            on_exhausted: 'reroute',
          },
        ],
        routing: { retries: { max_attempts: 3, initial_backoff_ms: 5, max_backoff_ms: 20 } },
      }),
    });
  });
  afterAll(() => h.close());

  it('reroutes to the other provider once the primary budget is spent, with header and ledger trail', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const providers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await post(h, key.secret, hello('gpt-4.1'));
      expect(r.status).toBe(200);
      providers.push(String(r.headers.get('x-tollgate-provider')));
      if (i >= 2) {
        expect(r.headers.get('x-tollgate-rerouted-from')).toBe('gpt-4.1@primary');
        const [row] = await rowsOf(h, String(r.headers.get('x-tollgate-call-id')), key.id);
        expect(row).toMatchObject({
          provider: 'prepaid',
          action: 'rerouted',
          fallbackFrom: 'gpt-4.1@primary',
        });
      }
    }
    expect(providers).toEqual(['primary', 'primary', 'prepaid', 'prepaid']);
    const usage = await h.admin<{ data: { group: string; calls: number; rerouted: number }[] }>(
      'GET',
      `/admin/v1/usage?by=provider&key=${key.id}`,
    );
    expect(usage.body.data.find((u) => u.group === 'prepaid')).toMatchObject({ calls: 2, rerouted: 2 });
  });

  it('reroute picks only providers the key may use: a primary-only key is denied', async () => {
    const key = await h.createKey({
      team: 'search',
      project: 'ranker',
      env: 'dev',
      providers: ['primary'],
    });
    // The primary budget is already spent by the test above.
    const r = await post(h, key.secret, hello('gpt-4.1'));
    expect(r.status).toBe(429);
    expect(r.headers.get('x-budget-exceeded')).toBe('primary-cap');
    // A provider outside the allowlist is refused outright for a model it alone serves.
    const only = await h.createKey({ team: 'search', project: 'ranker', env: 'dev', providers: ['prepaid'] });
    const refused = await post(h, only.secret, hello('gpt-4.1-mini'));
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'provider_not_allowed' });
  });

  it('fails over from a failing provider to the next one: one row per attempt, same call id', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const r = await post(h, key.secret, hello('gpt-4.1-mini'));
    expect(r.status).toBe(200);
    expect(r.headers.get('x-tollgate-attempt')).toBe('2');
    expect(r.headers.get('x-tollgate-provider')).toBe('primary');
    const rows = await rowsOf(h, String(r.headers.get('x-tollgate-call-id')), key.id);
    expect(rows.map((x) => [x.attempt, x.provider, x.status, x.httpStatus])).toEqual([
      [1, 'flaky', 'upstream_error', 502],
      [2, 'primary', 'ok', 200],
    ]);
    expect(rows[0]!.cost).toBe(0);
    expect(rows[0]!.reserved).toBeGreaterThan(0);
    expect(rows[1]!.action).toBe('failover');
  });

  it('a connection refused counts as a failure to fail over from', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const r = await post(h, key.secret, hello('gpt-4o'));
    expect(r.status).toBe(200);
    const rows = await rowsOf(h, String(r.headers.get('x-tollgate-call-id')), key.id);
    expect(rows.map((x) => [x.provider, x.status])).toEqual([
      ['dead', 'upstream_error'],
      ['primary', 'ok'],
    ]);
  });

  it('stops at the retry cap: 3 attempts, 3 rows, then the provider error', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const r = await post(h, key.secret, hello('gpt-4o-mini'));
    expect(r.status).toBe(502);
    const rows = await rowsOf(h, String(r.headers.get('x-tollgate-call-id')), key.id);
    expect(rows.map((x) => [x.attempt, x.action])).toEqual([
      [1, null],
      [2, 'retry'],
      [3, 'retry'],
    ]);
    expect(rows.every((x) => x.status === 'upstream_error' && x.cost === 0)).toBe(true);
  });

  it('1,000 calls with injected upstream faults leak no reservation, rate slot or queue entry', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod', max_concurrent: 5000 });
    const faults = ['500', '503', '429', 'timeout', 'cut', 'none', 'none', 'bad-json'];
    const client = h.openai(key.secret, { timeout: 10_000 });
    const results = await Promise.allSettled(
      Array.from({ length: 1000 }, async (_, i) => {
        const headers = { 'x-mock-fault': faults[i % faults.length]!, 'x-mock-retry-after': '0' };
        if (i % 2 === 1) return client.chat.completions.create(hello('gpt-4.1-mini', 10), { headers });
        const stream = await client.chat.completions.create(
          { ...hello('gpt-4.1-mini', 10), stream: true },
          { headers },
        );
        for await (const _ of stream) void _;
      }),
    );
    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    const svc = h.gateway.services;
    for (let i = 0; i < 100 && (await svc.budgets.counters.openReservations()) > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await svc.budgets.counters.openReservations()).toBe(0);
    expect(await svc.rateLimiter.openCount()).toBe(0);
    expect(svc.queue.size).toBe(0);
  }, 60_000);
});

describe('queue: wait for budget to free, fairly, with clean timeouts', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      config: {
        budgets: [
          {
            id: 'queued-team',
            match: { team: 'search' },
            // One call's worst case (9 in + 1000 out on gpt-4.1-mini) fits; two do not.
            limit: { usd: '0.002' },
            clamp: false,
            on_exhausted: 'queue',
          },
          {
            id: 'tiny-support',
            match: { team: 'support' },
            limit: { usd: '0.000001' },
            clamp: false,
            on_exhausted: 'queue',
          },
        ],
        routing: { queue: { max_depth: 50, max_wait_ms: 1500 } },
      },
      mock: { latencyMs: 60, outputTokens: 5 },
    });
  });
  afterAll(() => h.close());

  it('queued calls are released as settlements free budget, round-robin across keys', async () => {
    const a = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const b = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
    const order: string[] = [];
    const fire = (k: { secret: string }, tag: string) =>
      post(h, k.secret, hello('gpt-4.1-mini', 1000)).then((r) => {
        order.push(tag);
        return r;
      });
    // Key A floods first; B's calls arrive after. Fair release interleaves them.
    const calls = [
      ...Array.from({ length: 4 }, () => fire(a, 'a')),
      ...Array.from({ length: 2 }, () => fire(b, 'b')),
    ];
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const waited = results.map((r) => Number(r.headers.get('x-tollgate-queue-wait-ms') ?? 0));
    expect(waited.filter((w) => w > 0).length).toBeGreaterThanOrEqual(4);
    // B is not starved behind all of A's calls: both of B's calls finish before A's last.
    expect(order.lastIndexOf('b')).toBeLessThan(order.lastIndexOf('a'));
    const rows = await h.gateway.services.store.ledger.queryCalls({ team: 'search', limit: 100 });
    await h.gateway.services.ledger.flush();
    const queued = (await h.gateway.services.store.ledger.queryCalls({ team: 'search', limit: 100 })).filter(
      (r) => r.action?.includes('queued'),
    );
    expect(rows.length).toBeGreaterThanOrEqual(0);
    expect(queued.length).toBeGreaterThanOrEqual(4);
    expect(queued.every((r) => (r.queueMs ?? 0) > 0 && r.status === 'ok')).toBe(true);
    const usage = await h.admin<{ data: { group: string; queued: number; queueMs: number }[] }>(
      'GET',
      '/admin/v1/usage?by=team',
    );
    const search = usage.body.data.find((u) => u.group === 'search');
    expect(search?.queued).toBe(queued.length);
    expect(search?.queueMs).toBe(queued.reduce((sum, r) => sum + (r.queueMs ?? 0), 0));
  });

  it('a call that cannot get budget in time gets a clean 429 after max_wait_ms', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const t0 = Date.now();
    const r = await post(h, k.secret, hello('gpt-4.1-mini', 100));
    const took = Date.now() - t0;
    expect(r.status).toBe(429);
    expect(r.body.error).toMatchObject({ code: 'budget_queue_timeout' });
    expect(r.headers.get('x-budget-exceeded')).toBe('tiny-support');
    expect(took).toBeGreaterThanOrEqual(1450);
    expect(took).toBeLessThan(4000);
    expect(h.gateway.services.queue.size).toBe(0);
  });

  it('past max_depth the queue refuses at once with 503 budget_queue_full', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    const results = await Promise.all(
      Array.from({ length: 60 }, () => post(h, k.secret, hello('gpt-4.1-mini', 100))),
    );
    const codes = results.map((r) => (r.body.error as { code?: string } | undefined)?.code);
    expect(codes.filter((c) => c === 'budget_queue_full').length).toBe(10);
    expect(codes.filter((c) => c === 'budget_queue_timeout').length).toBe(50);
    expect(results.filter((r) => r.status === 503).length).toBe(10);
  });
});
