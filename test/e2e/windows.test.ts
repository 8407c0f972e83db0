import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** An injectable clock: the gateway reads time only through it. */
let now = Date.parse('2026-05-10T18:20:00Z'); // 23:50 in Asia/Kolkata (+05:30)
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    clock: () => now,
    mock: { outputTokens: 5000 },
    config: {
      budgets: [
        {
          id: 'support-daily-ist',
          match: { team: 'support' },
          limit: { usd: 0.02 },
          clamp: false,
          window: { kind: 'calendar', every: 'day', tz: 'Asia/Kolkata' },
        },
        {
          id: 'search-rolling-1h',
          match: { team: 'search' },
          limit: { usd: 0.02 },
          clamp: false,
          window: { kind: 'rolling', size: '1h', bucket: '1m' },
        },
      ],
    },
  });
});
afterAll(async () => h.close());

async function spendUntilDenied(secret: string) {
  for (let i = 0; i < 100; i++) {
    try {
      await h.openai(secret).chat.completions.create({
        model: 'gpt-4.1',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 1000,
      });
    } catch (err) {
      const e = err as { status: number; headers: Headers };
      return { status: e.status, retryAfter: Number(e.headers.get('retry-after')), calls: i };
    }
  }
  throw new Error('never denied');
}

describe('budget windows (injected clock, through the real server)', () => {
  it('a calendar day resets at local midnight in the configured time zone', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const denied = await spendUntilDenied(k.secret);
    expect(denied.status).toBe(429);
    expect(denied.calls).toBeGreaterThan(0);
    // 18:20Z is 23:50 IST: the window frees at 18:30Z, 600 s later.
    expect(denied.retryAfter).toBe(600);
    now = Date.parse('2026-05-10T18:29:59Z');
    expect((await spendUntilDenied(k.secret)).calls).toBe(0);
    now = Date.parse('2026-05-10T18:30:00Z'); // 00:00 IST, a new day
    const next = await spendUntilDenied(k.secret);
    expect(next.calls).toBe(denied.calls);
  });

  it('a rolling window slides: spend falls out after the window size', async () => {
    now = Date.parse('2026-05-11T10:00:30Z');
    const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const denied = await spendUntilDenied(k.secret);
    expect(denied.calls).toBeGreaterThan(0);
    expect(denied.retryAfter).toBeGreaterThan(3500);
    expect(denied.retryAfter).toBeLessThanOrEqual(3660);
    now += 30 * 60_000;
    expect((await spendUntilDenied(k.secret)).calls).toBe(0);
    now = Date.parse('2026-05-11T11:01:00Z'); // the bucket of 10:00 has left the last hour
    expect((await spendUntilDenied(k.secret)).calls).toBe(denied.calls);
  });

  it('window state survives a restart (rebuilt from the ledger)', async () => {
    const before = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/search-rolling-1h');
    await h.restart();
    const after = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/search-rolling-1h');
    expect(after.body.spent.nanos).toBe(before.body.spent.nanos);
    expect(after.body.spent.nanos).toBeGreaterThan(0);
  });
});
