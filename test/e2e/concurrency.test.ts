import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

const CAP_NANOS = 1_000_000_000; // $1

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    // Every call generates its full max_tokens, so actual spend approaches the worst case.
    mock: { outputTokens: 5000, latencyMs: 30 },
    config: {
      budgets: [
        {
          id: 'search-team-cap',
          match: { team: 'search' },
          limit: { usd: 1 },
          window: { kind: 'calendar', every: 'month', tz: 'UTC' },
        },
      ],
    },
  });
});
afterAll(async () => h.close());

async function burst(secret: string, n: number, stream: boolean) {
  const client = new OpenAI({
    baseURL: `${h.gateway.url}/v1`,
    apiKey: secret,
    maxRetries: 0,
    timeout: 60_000,
  });
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      try {
        if (stream) {
          const s = await client.chat.completions.create({
            model: 'gpt-4.1',
            messages: [{ role: 'user', content: `burst call ${i}` }],
            max_tokens: 1000,
            stream: true,
          });
          for await (const _chunk of s) {
            // drain
          }
          return { ok: true as const };
        }
        await client.chat.completions.create({
          model: 'gpt-4.1',
          messages: [{ role: 'user', content: `burst call ${i}` }],
          max_tokens: 1000,
        });
        return { ok: true as const };
      } catch (err) {
        const e = err as { status?: number; headers?: Headers; code?: string };
        return {
          ok: false as const,
          status: e.status,
          code: e.code,
          policy: e.headers?.get('x-budget-exceeded'),
        };
      }
    }),
  );
}

describe('1,000 concurrent calls against a $1 team cap', () => {
  it('settled spend never exceeds the cap, the rest are denied with 429 + x-budget-exceeded, counters equal the ledger', async () => {
    const a = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const b = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
    const results = (await Promise.all([burst(a.secret, 500, false), burst(b.secret, 500, true)])).flat();
    const ok = results.filter((r) => r.ok).length;
    const denied = results.filter((r) => !r.ok);
    expect(ok + denied.length).toBe(1000);
    expect(ok).toBeGreaterThan(50);
    expect(denied.length).toBeGreaterThan(500);
    for (const d of denied) {
      expect(d).toMatchObject({ status: 429, code: 'budget_exceeded', policy: 'search-team-cap' });
    }

    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ team: 'search', limit: 10_000 });
    expect(rows.length).toBe(1000);
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(settled).toBeLessThanOrEqual(CAP_NANOS);
    // The cap is nearly used up: the reservation bound the burst, it did not just refuse everything.
    expect(settled).toBeGreaterThan(CAP_NANOS * 0.9);
    expect(rows.filter((r) => r.status === 'ok').length).toBe(ok);
    expect(rows.filter((r) => r.status === 'denied').every((r) => r.denialPolicy === 'search-team-cap')).toBe(
      true,
    );

    const status = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
      'GET',
      '/admin/v1/budgets/search-team-cap',
    );
    expect(status.body.spent.nanos).toBe(settled);
    expect(status.body.reserved.nanos).toBe(0);
    expect(await h.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});
