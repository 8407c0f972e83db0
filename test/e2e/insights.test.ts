import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InsightsReport } from '../../src/finops/insights/insights.ts';
import type { CallRecord } from '../../src/ledger/types.ts';
import { formatUsd } from '../../src/money.ts';
import { type Harness, MASTER, startHarness } from '../helpers/harness.ts';
import { settleLedger } from '../helpers/workload.ts';

/**
 * Cost insights on a small known workload, with the gateway's clock frozen at 06:00 UTC so the
 * forecast of a daily budget is exactly 4 × the spend so far.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const NOW = Date.UTC(2026, 2, 10, 6);
type Report = InsightsReport & { window: string };

let h: Harness;
let secret: string;
const ids: { big: string; agent: string[]; failed: string; plain: string } = {
  big: '',
  agent: [],
  failed: '',
  plain: '',
};

async function call(
  model: string,
  outputTokens: number,
  headers: Record<string, string> = {},
): Promise<string> {
  const { response } = await h
    .openai(secret)
    .chat.completions.create(
      { model, messages: [{ role: 'user', content: 'what does this cost?' }], max_tokens: 400 },
      { headers: { 'x-mock-output-tokens': String(outputTokens), ...headers } },
    )
    .withResponse();
  return response.headers.get('x-tollgate-call-id') ?? '';
}

beforeAll(async () => {
  h = await startHarness({
    clock: () => NOW,
    config: {
      budgets: [
        {
          id: 'search-daily',
          match: { team: 'search' },
          limit: { usd: 1 },
          window: { kind: 'calendar', every: 'day', tz: 'UTC' },
        },
        { id: 'support-monthly', match: { team: 'support' }, limit: { usd: 1 } },
      ],
    },
  });
  secret = (await h.createKey({ team: 'search', project: 'ranker', env: 'prod' })).secret;
  ids.big = await call('gpt-4.1', 300, {
    'x-tollgate-feature': 'summarize',
    'x-tollgate-request-id': 'r-big',
  });
  for (let i = 0; i < 5; i++) {
    ids.agent.push(
      await call('gpt-4.1-mini', 10, { 'x-tollgate-feature': 'search', 'x-tollgate-request-id': 'r-agent' }),
    );
  }
  ids.failed = await call('gpt-4.1-mini', 10, {
    'x-tollgate-feature': 'search',
    'x-tollgate-request-id': 'r-fail',
    'x-mock-fault': '500',
  }).catch((err: { headers?: Headers }) => err.headers?.get('x-tollgate-call-id') ?? '');
  ids.plain = await call('gpt-4o-mini', 20);
  await settleLedger(h);
});
afterAll(async () => {
  await h?.close();
});

async function rows(): Promise<CallRecord[]> {
  return h.gateway.services.store.ledger.queryCalls({ limit: 1000 });
}

const costOf = (all: CallRecord[], pick: (r: CallRecord) => boolean) =>
  all.filter(pick).reduce((sum, r) => sum + r.cost, 0);
const money = (nanos: number) => ({ usd: formatUsd(nanos), nanos });
const share = (part: number, whole: number) => Math.round((part / whole) * 10_000) / 10_000;

describe('cost insights', () => {
  let report: Report;
  let all: CallRecord[];
  beforeAll(async () => {
    const r = await h.admin<Report>('GET', '/admin/v1/insights?window=7d');
    expect(r.status).toBe(200);
    report = r.body;
    all = await rows();
  });

  it('covers the window and says that no prompt text is stored', () => {
    expect(all.length).toBe(9);
    expect(ids.failed).toMatch(/^call_/);
    expect(report.window).toBe('7d');
    expect(report.from).toBe(new Date(NOW - 7 * 86_400_000).toISOString());
    expect(report.note).toContain('stores no prompt or completion text');
    expect(report.totals).toEqual({ calls: 8, attempts: 9, cost: money(costOf(all, () => true)) });
  });

  it('ranks the most expensive calls with request id, feature, model and tokens', () => {
    const big = all.find((r) => r.callId === ids.big);
    if (!big) throw new Error('no row for the big call');
    expect(report.topCalls[0]).toMatchObject({
      callId: ids.big,
      requestId: 'r-big',
      feature: 'summarize',
      model: 'gpt-4.1',
      attempts: 1,
      inputTokens: big.inputTokens,
      outputTokens: 300,
      cost: money(big.cost),
    });
    // The failed call cost nothing and used no tokens: not an expensive prompt.
    expect(report.topCalls.map((c) => c.callId).sort()).toEqual([ids.big, ...ids.agent, ids.plain].sort());
    const costs = report.topCalls.map((c) => c.cost.nanos);
    expect(costs).toEqual([...costs].sort((a, b) => b - a));
  });

  it('sums spend per feature', () => {
    const total = costOf(all, () => true);
    const byFeature = (f: string | null) => costOf(all, (r) => r.feature === f);
    expect(report.topFeatures).toEqual([
      {
        feature: 'summarize',
        calls: 1,
        cost: money(byFeature('summarize')),
        spendShare: share(byFeature('summarize'), total),
      },
      {
        feature: 'search',
        calls: 6,
        cost: money(byFeature('search')),
        spendShare: share(byFeature('search'), total),
      },
      { feature: null, calls: 1, cost: money(byFeature(null)), spendShare: share(byFeature(null), total) },
    ]);
  });

  it('finds the agent loop (5 calls of one request) and the retried failure', () => {
    expect(report.retryLoops.map(({ first: _f, last: _l, ...loop }) => loop)).toEqual([
      {
        requestId: 'r-agent',
        callId: null,
        calls: 5,
        attempts: 5,
        failures: 0,
        maxAttempt: 1,
        cost: money(costOf(all, (r) => r.requestId === 'r-agent')),
        features: ['search'],
        reasons: ['many_calls'],
      },
      {
        requestId: 'r-fail',
        callId: null,
        calls: 1,
        attempts: 2,
        failures: 2,
        maxAttempt: 2,
        cost: money(0),
        features: ['search'],
        reasons: ['many_failures', 'retried'],
      },
    ]);
  });

  it('splits spend and calls by model', () => {
    const total = costOf(all, () => true);
    const byModel = (m: string) => costOf(all, (r) => r.modelUsed === m);
    expect(report.modelMix).toEqual([
      {
        model: 'gpt-4.1',
        calls: 1,
        cost: money(byModel('gpt-4.1')),
        spendShare: share(byModel('gpt-4.1'), total),
        callShare: 0.1111,
      },
      {
        model: 'gpt-4.1-mini',
        calls: 7,
        cost: money(byModel('gpt-4.1-mini')),
        spendShare: share(byModel('gpt-4.1-mini'), total),
        callShare: 0.7778,
      },
      {
        model: 'gpt-4o-mini',
        calls: 1,
        cost: money(byModel('gpt-4o-mini')),
        spendShare: share(byModel('gpt-4o-mini'), total),
        callShare: 0.1111,
      },
    ]);
  });

  it('forecasts each budget to the end of its window at the burn rate so far', () => {
    const spent = costOf(all, (r) => r.team === 'search');
    expect(report.forecasts).toEqual([
      {
        policyId: 'search-daily',
        mode: 'hard',
        window: 'calendar:day:UTC',
        windowStart: '2026-03-10T00:00:00.000Z',
        windowEnd: '2026-03-11T00:00:00.000Z',
        spent: money(spent),
        limit: money(1_000_000_000),
        // 6 of 24 hours gone: the day ends at 4× the spend so far.
        forecast: money(spent * 4),
        forecastUtilization: Math.round(((spent * 4) / 1_000_000_000) * 10_000) / 10_000,
        exhaustsAt: null,
      },
      {
        policyId: 'support-monthly',
        mode: 'hard',
        window: 'calendar:month:UTC',
        windowStart: '2026-03-01T00:00:00.000Z',
        windowEnd: '2026-04-01T00:00:00.000Z',
        spent: money(0),
        limit: money(1_000_000_000),
        forecast: null,
        forecastUtilization: null,
        exhaustsAt: null,
      },
    ]);
  });

  it('takes a window and a limit, and refuses bad ones', async () => {
    const one = await h.admin<Report>('GET', '/admin/v1/insights?window=1h&limit=1');
    expect(one.body.topCalls.map((c) => c.callId)).toEqual([ids.big]);
    expect(one.body.from).toBe(new Date(NOW - 3_600_000).toISOString());
    expect((await h.admin('GET', '/admin/v1/insights?window=soon')).status).toBe(400);
    expect((await h.admin('GET', '/admin/v1/insights?limit=0')).status).toBe(400);
  });

  it('`tollgate insights` prints the same report', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const proc = spawn(
          process.execPath,
          [
            join(ROOT, 'bin', 'tollgate.js'),
            '--url',
            h.gateway.url,
            '--master-key',
            MASTER,
            'insights',
            ...args,
          ],
          { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let stdout = '';
        proc.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        proc.on('close', (code) => resolve({ code, stdout }));
      });
    const [table, json] = await Promise.all([run(['--window', '1d']), run(['--window', '7d', '--json'])]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('most expensive calls:');
    expect(table.stdout).toContain(ids.big);
    expect(table.stdout).toContain('r-agent');
    expect(table.stdout).toContain('search-daily');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(report);
  });
});
