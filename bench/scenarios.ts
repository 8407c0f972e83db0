import { admin } from './ledgerCheck.ts';
import type { Scenario } from './report.ts';

/** BENCH_SCALE shortens every run (e.g. 0.3 for a quick look); such runs do not write results. */
export const SCALE = Number(process.env.BENCH_SCALE ?? '1');

export const secs = (s: number) => Math.max(1, Math.round(s * SCALE));

/** The two scenarios every comparison shares: max throughput, and latency at a steady 500 req/s. */
export const THROUGHPUT: Scenario = {
  id: 'throughput',
  title: 'Max throughput, non-stream',
  kind: 'throughput',
  generator: 'autocannon',
  connections: 64,
  seconds: secs(3),
  stream: false,
};

export const STEADY: Scenario = {
  id: 'steady',
  title: '500 req/s steady, non-stream',
  kind: 'latency',
  generator: 'paced',
  connections: 16,
  rate: 500,
  seconds: secs(6),
  stream: false,
};

/**
 * The gateway config every bench side shares: the mock as the one provider, and 2 hard budgets
 * (org calendar month; team rolling hour with usd, tokens and requests limits) that match the
 * bench key, so every call is reserved and settled on several policies.
 */
export function benchConfig(mockUrl: string, sqlite: string): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    storage: { sqlite },
    providers: { mock: { kind: 'openai', base_url: `${mockUrl}/v1` } },
    models: [{ id: 'gpt-4.1-mini', provider: 'mock' }],
    orgs: [{ id: 'bench-org', teams: [{ id: 'bench-team', projects: [{ id: 'bench-project' }] }] }],
    budgets: [
      {
        id: 'org-monthly',
        match: { org: 'bench-org' },
        limit: { usd: 1_000_000 },
        window: { kind: 'calendar', every: 'month' },
      },
      {
        id: 'team-rolling-1h',
        match: { team: 'bench-team' },
        limit: { usd: 100_000, tokens: 1_000_000_000, requests: 100_000_000 },
        window: { kind: 'rolling', size: '1h', bucket: '1m' },
      },
    ],
  };
}

/** The bench key, with a budget of its own; returns its secret and the ids of the 3 budgets that apply to it. */
export async function createBenchKey(
  url: string,
  master: string,
): Promise<{ secret: string; budgetIds: string[] }> {
  const created = await admin<{ key: string; budget: { id: string } | null }>(
    url,
    master,
    'POST',
    '/admin/v1/keys',
    {
      team: 'bench-team',
      project: 'bench-project',
      env: 'prod',
      name: 'bench',
      budget: { usd: '1000000', window: '1mo' },
    },
  );
  if (!created.budget) throw new Error('the key-level budget was not created');
  return { secret: created.key, budgetIds: ['org-monthly', 'team-rolling-1h', created.budget.id] };
}
