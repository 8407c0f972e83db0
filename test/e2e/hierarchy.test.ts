import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    mock: { outputTokens: 5000 },
    config: {
      budgets: [
        { id: 'team-1usd', match: { team: 'search' }, limit: { usd: 1 }, clamp: false },
        { id: 'user-10usd', match: { team: 'search', user: 'alice' }, limit: { usd: 10 }, clamp: false },
        { id: 'prod-only', match: { team: 'support', env: 'prod' }, limit: { usd: 0.01 }, clamp: false },
      ],
    },
  });
});
afterAll(async () => h.close());

const call = (secret: string, headers: Record<string, string> = {}, max = 1000) =>
  h
    .openai(secret)
    .chat.completions.create(
      { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: max, user: 'alice' },
      { headers },
    )
    .then(
      () => ({ ok: true as const }),
      (err: { status?: number; headers?: Headers }) => ({
        ok: false as const,
        status: err.status,
        policy: err.headers?.get('x-budget-exceeded'),
      }),
    );

describe('hierarchical budgets: every matching policy must pass', () => {
  it('a $10 user cap inside a $1 team cap: the team cap binds', async () => {
    const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    let denial: { status?: number; policy?: string | null } | null = null;
    for (let i = 0; i < 200 && !denial; i++) {
      const r = await call(k.secret);
      if (!r.ok) denial = r;
    }
    expect(denial).toEqual({ ok: false, status: 429, policy: 'team-1usd' });
    const team = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/team-1usd');
    const user = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/user-10usd');
    expect(team.body.spent.nanos).toBeLessThanOrEqual(1_000_000_000);
    expect(user.body.spent.nanos).toBe(team.body.spent.nanos);
  });

  it("a dev key's spend does not touch the prod budget", async () => {
    const dev = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    for (let i = 0; i < 5; i++) expect((await call(dev.secret, {}, 2000)).ok).toBe(true);
    const prod = await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/prod-only');
    expect(prod.body.spent.nanos).toBe(0);
    const prodKey = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    expect(await call(prodKey.secret, {}, 2000)).toMatchObject({
      ok: false,
      status: 429,
      policy: 'prod-only',
    });
  });

  it('a request carrying x-team: someone-else is billed to its key team', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    const r = await h
      .openai(k.secret)
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
        {
          headers: {
            'x-team': 'search',
            'x-project': 'ranker',
            'x-env': 'prod',
            'x-tollgate-team': 'search',
          },
        },
      )
      .withResponse();
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ keyId: k.id });
    const row = rows.find((x) => x.callId === r.response.headers.get('x-tollgate-call-id'));
    expect(row).toMatchObject({ team: 'support', project: 'bot', env: 'dev', status: 'ok' });
  });
});
