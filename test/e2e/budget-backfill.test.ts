import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/finops/audit/types.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * A budget created mid-window through the admin API starts where the ledger is (the spend so
 * far in its window), as it would after a restart — not at zero. Same when a budget is given
 * another window. Through the real server, with the official openai client.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ mock: { outputTokens: 200 } });
});
afterAll(async () => h.close());

interface BudgetView {
  spent: { nanos: number };
  reserved: { nanos: number };
}

async function spentOf(id: string): Promise<number> {
  const r = await h.admin<BudgetView>('GET', `/admin/v1/budgets/${id}`);
  expect(r.status).toBe(200);
  return r.body.spent.nanos;
}

async function ledgerSpend(team: string): Promise<number> {
  await h.gateway.services.ledger.flush();
  const rows = await h.gateway.services.store.ledger.queryCalls({ team, limit: 10_000 });
  return rows.reduce((s, r) => s + r.cost, 0);
}

async function call(secret: string): Promise<number> {
  try {
    await h.openai(secret).chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'hello there' }],
      max_tokens: 300,
    });
    return 200;
  } catch (err) {
    return (err as { status: number }).status;
  }
}

describe('a budget created or re-windowed mid-window starts from the ledger', () => {
  it('counts the spend before it was created, then holds its cap on the total', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    for (let i = 0; i < 5; i++) expect(await call(key.secret)).toBe(200);
    const before = await ledgerSpend('search');
    expect(before).toBeGreaterThan(0);

    // A cap a little above what was already spent: the month so far counts against it.
    const limitNanos = before + Math.floor(before / 2);
    const created = await h.admin('POST', '/admin/v1/budgets', {
      id: 'search-late-cap',
      match: { team: 'search' },
      limit: { usd: (limitNanos / 1e9).toFixed(9) },
      window: { kind: 'calendar', every: 'month' },
      clamp: false,
    });
    expect(created.status).toBe(201);
    expect(await spentOf('search-late-cap')).toBe(before);

    let admitted = 0;
    for (let i = 0; i < 20; i++) {
      const status = await call(key.secret);
      if (status === 429) break;
      expect(status).toBe(200);
      admitted++;
    }
    // Room for about half the earlier spend: a few calls, not another full cap.
    expect(admitted).toBeGreaterThan(0);
    expect(admitted).toBeLessThan(5);
    const total = await ledgerSpend('search');
    expect(total).toBeLessThanOrEqual(limitNanos);
    expect(await spentOf('search-late-cap')).toBe(total);

    const audit = await h.admin<AuditReport>('POST', '/admin/v1/audit', {});
    expect(audit.body.checks.filter((c) => !c.ok)).toEqual([]);

    // Counters equal what a restart rebuilds from the ledger.
    await h.restart();
    expect(await spentOf('search-late-cap')).toBe(total);
  });

  it('a budget given another window books the ledger again for the new window', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const made = await h.admin('POST', '/admin/v1/budgets', {
      id: 'support-cap',
      match: { team: 'support' },
      limit: { usd: 100 },
      window: { kind: 'calendar', every: 'month' },
    });
    expect(made.status).toBe(201);
    for (let i = 0; i < 3; i++) expect(await call(key.secret)).toBe(200);
    const spent = await ledgerSpend('support');
    expect(await spentOf('support-cap')).toBe(spent);

    const patched = await h.admin('PATCH', '/admin/v1/budgets/support-cap', {
      window: { kind: 'rolling', size: '1h', bucket: '1m' },
    });
    expect(patched.status).toBe(200);
    expect(await spentOf('support-cap')).toBe(spent);
    // Changing only the limit keeps the counters as they are (no second booking).
    const raised = await h.admin('PATCH', '/admin/v1/budgets/support-cap', { limit: { usd: 200 } });
    expect(raised.status).toBe(200);
    expect(await spentOf('support-cap')).toBe(spent);
  });

  it('a key created with its own budget does not read the ledger and starts at zero', async () => {
    const created = await h.admin<{ key: string; budget: { id: string } | null }>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'dev',
      budget: { usd: '5', window: '1mo' },
    });
    expect(created.status).toBe(201);
    const id = created.body.budget?.id;
    if (!id) throw new Error('no key budget');
    expect(await spentOf(id)).toBe(0);
  });
});
