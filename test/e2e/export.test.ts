import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finopsSchema } from '../../src/finops/export/config.ts';
import { exportSchedulerFor } from '../../src/finops/export/wiring.ts';
import { type Harness, MASTER, startHarness, TEST_MODELS } from '../helpers/harness.ts';
import { dayClock, seedWorkload, WORKLOAD_ORGS, type Workload, workloadConfig } from '../helpers/workload.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DAY = Date.UTC(2026, 10, 22); // a Sunday: its ISO week 2026-W47 ends with it
const D = '2026-11-22';

let h: Harness;
let w: Workload;
let tmp: string;
let gatewayDir: string;

interface LedgerTotals {
  nanos: bigint;
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  reasoning: number;
  toolCall: number;
  calls: number;
}

/** The ledger's own sums, straight from SQLite: the truth every export must equal. */
function ledger(): { totals: LedgerTotals; sql: Database.Database } {
  const sql = new Database(h.dbFile, { readonly: true });
  const billed = `status != 'pending' AND (cost > 0 OR input_tokens + output_tokens + cache_read_tokens
    + cache_write_tokens + reasoning_tokens + tool_call_tokens > 0)`;
  const t = sql
    .prepare(
      `SELECT SUM(cost) AS nanos, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
        SUM(cache_read_tokens) AS cr, SUM(cache_write_tokens) AS cw, SUM(reasoning_tokens) AS rs,
        SUM(tool_call_tokens) AS tc, COUNT(*) AS calls FROM calls WHERE ${billed}`,
    )
    .safeIntegers()
    .get() as Record<string, bigint>;
  const n = (k: string) => Number(t[k] ?? 0n);
  return {
    sql,
    totals: {
      nanos: t.nanos ?? 0n,
      input: n('input'),
      output: n('output'),
      cacheRead: n('cr'),
      cacheWrite: n('cw'),
      reasoning: n('rs'),
      toolCall: n('tc'),
      calls: n('calls'),
    },
  };
}

/** An exact decimal USD string as integer nanos, with no float on the way. */
function usdToNanos(text: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) throw new Error(`not an exact USD decimal: '${text}'`);
  return BigInt(m[1] ?? '0') * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

const sumBig = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function download(format: string, by = 'request'): Promise<Buffer> {
  const res = await fetch(`${h.gateway.url}/admin/v1/export?from=${D}&to=${D}&format=${format}&by=${by}`, {
    headers: { authorization: `Bearer ${MASTER}` },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const csv = (body: Buffer | string) => parse(body, { columns: true }) as Array<Record<string, string>>;

async function parquet(body: Buffer): Promise<Array<Record<string, unknown>>> {
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file });
}

/** hyparquet reads DECIMAL(18,9) as a float; rounding at 1e-9 recovers the stored integer exactly. */
const parquetNanos = (v: unknown) => BigInt(Math.round(Number(v) * 1e9));

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tollgate-export-e2e-'));
  gatewayDir = join(tmp, 'gateway-exports');
  h = await startHarness({
    mock: { outputTokens: 24 },
    clock: dayClock(DAY),
    config: workloadConfig({ finops: { export_dir: gatewayDir, formats: ['csv'] } }),
  });
  w = await seedWorkload(h);
});
afterAll(async () => {
  await h?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the mixed workload', () => {
  it('has billed calls, $0 denials and $0 upstream failures, all on one UTC day', () => {
    const { sql } = ledger();
    const byStatus = Object.fromEntries(
      (
        sql
          .prepare('SELECT status, COUNT(*) AS n, SUM(cost) AS c FROM calls GROUP BY status')
          .all() as Array<{
          status: string;
          n: number;
          c: number;
        }>
      ).map((r) => [r.status, r]),
    );
    const days = sql
      .prepare(`SELECT DISTINCT date(ts_start / 1000, 'unixepoch') AS d FROM calls`)
      .all() as Array<{ d: string }>;
    sql.close();
    expect(days).toEqual([{ d: D }]);
    expect(byStatus.denied?.n).toBe(2);
    expect(byStatus.denied?.c).toBe(0);
    expect(byStatus.upstream_error?.n).toBeGreaterThanOrEqual(2); // the 500 on both attempts, the cut stream
    expect(w.sent.filter((c) => c.outcome === 'denied')).toHaveLength(2);
    expect(w.sent.filter((c) => c.outcome === 'failed')).toHaveLength(2);
  });
});

describe('allocation table through the admin API', () => {
  it('CSV: totals equal the ledger to the nano and to the token; one row per request id', async () => {
    const { totals, sql } = ledger();
    const rows = csv(await download('csv'));
    expect(sumBig(rows.map((r) => usdToNanos(r.usd ?? '')))).toBe(totals.nanos);
    expect(sumBig(rows.map((r) => BigInt(r.cost_nanos ?? '')))).toBe(totals.nanos);
    const tokens = (col: string) => sum(rows.map((r) => Number(r[col])));
    expect(tokens('input_tokens')).toBe(totals.input);
    expect(tokens('output_tokens')).toBe(totals.output);
    expect(tokens('cache_read_tokens')).toBe(totals.cacheRead);
    expect(tokens('cache_write_tokens')).toBe(totals.cacheWrite);
    expect(tokens('reasoning_tokens')).toBe(totals.reasoning);
    expect(tokens('tool_call_tokens')).toBe(totals.toolCall);
    expect(tokens('calls')).toBe(totals.calls);
    expect(totals.cacheRead).toBeGreaterThan(0);
    expect(totals.reasoning).toBeGreaterThan(0);

    const billedRequests = sql
      .prepare(
        `SELECT request_id, COUNT(*) AS calls, SUM(cost) AS cost FROM calls
         WHERE request_id IS NOT NULL AND status != 'pending' AND cost > 0 GROUP BY request_id ORDER BY request_id`,
      )
      .all() as Array<{ request_id: string; calls: number; cost: number }>;
    const anonymous = sql
      .prepare(`SELECT call_id FROM calls WHERE request_id IS NULL AND cost > 0 ORDER BY call_id`)
      .all() as Array<{ call_id: string }>;
    sql.close();
    const byRequest = rows.filter((r) => !r.request_id?.startsWith('call_'));
    expect(byRequest.map((r) => [r.request_id, Number(r.calls), Number(r.cost_nanos)]).sort()).toEqual(
      billedRequests.map((r) => [r.request_id, r.calls, r.cost]).sort(),
    );
    expect(new Set(byRequest.map((r) => r.request_id)).size).toBe(byRequest.length);
    expect(
      rows
        .filter((r) => r.request_id?.startsWith('call_'))
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(anonymous.map((r) => r.call_id));
    // Denied-only and failed-only requests billed nothing, so they are not in the table.
    expect(rows.map((r) => r.request_id)).not.toContain('req-growth-dev-2');
    expect(rows.map((r) => r.request_id)).not.toContain('req-search-3');
    const search1 = rows.find((r) => r.request_id === 'req-search-1');
    expect(search1).toMatchObject({
      date: D,
      org: 'acme',
      team: 'search',
      cost_center: 'CC-1',
      project: 'ranker',
      env: 'prod',
      feature: 'search',
      model: 'gpt-4.1-mini',
      provider: 'mock',
      calls: '2',
    });
    expect(new Set(rows.map((r) => r.team))).toEqual(new Set(['search', 'support', 'growth']));
    expect(new Set(rows.map((r) => r.env))).toEqual(new Set(['prod', 'dev']));
  });

  it('Parquet: the same totals through an independent reader', async () => {
    const { totals, sql } = ledger();
    sql.close();
    const rows = await parquet(await download('parquet'));
    expect(sumBig(rows.map((r) => parquetNanos(r.usd)))).toBe(totals.nanos);
    expect(sumBig(rows.map((r) => r.cost_nanos as bigint))).toBe(totals.nanos);
    const tokens = (col: string) => sum(rows.map((r) => Number(r[col] as bigint)));
    expect(tokens('input_tokens')).toBe(totals.input);
    expect(tokens('output_tokens')).toBe(totals.output);
    expect(tokens('cache_read_tokens')).toBe(totals.cacheRead);
    expect(tokens('reasoning_tokens')).toBe(totals.reasoning);
    expect(rows[0]?.date).toEqual(new Date(DAY));
  });

  it('by call: one row per billed attempt with its call id and attempt', async () => {
    const { totals, sql } = ledger();
    sql.close();
    const rows = csv(await download('csv', 'call'));
    expect(rows).toHaveLength(totals.calls);
    expect(new Set(rows.map((r) => `${r.call_id}#${r.attempt}`)).size).toBe(totals.calls);
    expect(rows.every((r) => Number(r.calls) === 1 && /^\d+$/.test(r.attempt ?? ''))).toBe(true);
  });
});

const FOCUS_MANDATORY = [
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'EffectiveCost',
  'HostProviderName',
  'InvoiceIssuerName',
  'ListCost',
  'ListUnitPrice',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'ServiceCategory',
  'ServiceName',
  'ServiceProviderName',
  'SkuId',
  'SkuMeter',
  'SkuPriceId',
  'Tags',
];
const COSTS = ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost'];
const DATES = ['BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd'];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function kindTotals(rows: Array<Record<string, unknown>>, quantity: (r: Record<string, unknown>) => number) {
  const of = (meter: string) => sum(rows.filter((r) => r.SkuMeter === meter).map(quantity));
  return {
    input: of('Input Tokens'),
    output: of('Output Tokens') + of('Reasoning Tokens'),
    reasoning: of('Reasoning Tokens'),
    cacheRead: of('Cache Read Tokens'),
    cacheWrite: of('Cache Write Tokens'),
  };
}

describe('FOCUS 1.3 through the admin API', () => {
  it('CSV: mandatory columns present and typed; costs and tokens per kind equal the ledger', async () => {
    const { totals, sql } = ledger();
    sql.close();
    const rows = csv(await download('focus'));
    expect(rows.length).toBeGreaterThan(0);
    for (const c of FOCUS_MANDATORY) expect(Object.keys(rows[0] ?? {})).toContain(c);
    for (const r of rows) {
      for (const c of COSTS) expect(Number.isFinite(Number(r[c])), `${c}=${r[c]}`).toBe(true);
      for (const c of ['ConsumedQuantity', 'PricingQuantity', 'ListUnitPrice', 'ContractedUnitPrice'])
        expect(Number.isFinite(Number(r[c])) && r[c] !== '', `${c}=${r[c]}`).toBe(true);
      for (const c of DATES) {
        expect(r[c]).toMatch(ISO_UTC);
        expect(Number.isFinite(Date.parse(r[c] ?? ''))).toBe(true);
      }
      expect(r).toMatchObject({
        BillingCurrency: 'USD',
        ChargeCategory: 'Usage',
        ChargeFrequency: 'Usage-Based',
        PricingCategory: 'Standard',
        ServiceCategory: 'AI and Machine Learning',
        ConsumedUnit: 'Tokens',
        PricingUnit: 'Tokens',
        ChargePeriodStart: `${D}T00:00:00Z`,
        ChargePeriodEnd: '2026-11-23T00:00:00Z',
        BillingPeriodStart: '2026-11-01T00:00:00Z',
        BillingPeriodEnd: '2026-12-01T00:00:00Z',
      });
      for (const c of [
        'BillingAccountId',
        'ProviderName',
        'ServiceName',
        'SkuId',
        'SkuPriceId',
        'ChargeDescription',
      ])
        expect(r[c], c).not.toBe('');
      const tags = JSON.parse(r.Tags ?? '') as Record<string, string>;
      expect(tags).toMatchObject({
        team: r.x_Team,
        project: r.x_Project,
        env: r.x_Env,
        cost_center: r.x_CostCenter,
      });
      expect(r.x_RequestId).not.toBe('');
    }
    expect(sumBig(rows.map((r) => usdToNanos(r.BilledCost ?? '')))).toBe(totals.nanos);
    expect(sumBig(rows.map((r) => BigInt(r.x_CostNanos ?? '')))).toBe(totals.nanos);
    expect(kindTotals(rows, (r) => Number(r.ConsumedQuantity))).toEqual({
      input: totals.input,
      output: totals.output,
      reasoning: totals.reasoning,
      cacheRead: totals.cacheRead,
      cacheWrite: totals.cacheWrite,
    });
    expect(new Set(rows.map((r) => r.SkuMeter))).toEqual(
      new Set(['Input Tokens', 'Output Tokens', 'Reasoning Tokens', 'Cache Read Tokens']),
    );
  });

  it('Parquet: numbers are numbers, dates are dates, totals equal the ledger', async () => {
    const { totals, sql } = ledger();
    sql.close();
    const rows = await parquet(await download('focus-parquet'));
    for (const r of rows) {
      for (const c of [...COSTS, 'ConsumedQuantity', 'PricingQuantity', 'ListUnitPrice'])
        expect(typeof r[c], c).toBe('number');
      for (const c of DATES) expect(r[c]).toBeInstanceOf(Date);
      expect(r.ChargePeriodStart).toEqual(new Date(DAY));
      expect(r.BillingCurrency).toBe('USD');
      expect(r.ChargeCategory).toBe('Usage');
      expect(r.ChargeClass).toBeNull();
      expect(typeof r.Tags).toBe('string');
    }
    expect(sumBig(rows.map((r) => parquetNanos(r.BilledCost)))).toBe(totals.nanos);
    expect(kindTotals(rows, (r) => Number(r.ConsumedQuantity))).toEqual({
      input: totals.input,
      output: totals.output,
      reasoning: totals.reasoning,
      cacheRead: totals.cacheRead,
      cacheWrite: totals.cacheWrite,
    });
  });

  it('a bad date is a catalogued 400 naming the parameter', async () => {
    const r = await h.admin('GET', '/admin/v1/export?from=2026-11-31&to=2026-12-01');
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        type: 'invalid_request_error',
        code: 'invalid_request',
        param: 'from',
        message: "from must be a calendar date YYYY-MM-DD (UTC), got '2026-11-31'",
      },
    });
  });
});

describe('scheduled exports', () => {
  it('writes the daily files and the weekly cost-center summary; a second run skips them', async () => {
    const dir = join(tmp, 'scheduled');
    const scheduler = exportSchedulerFor(
      h.gateway.services,
      finopsSchema.parse({ export_dir: dir, formats: ['csv', 'parquet', 'focus', 'focus-parquet'] }),
    );
    const run = await scheduler.runDue(Date.UTC(2026, 10, 23, 0, 20)); // Monday 00:20 UTC
    expect(run).toEqual({
      day: D,
      week: '2026-W47',
      written: [
        `allocation-${D}.csv`,
        `allocation-${D}.parquet`,
        `focus-${D}.csv`,
        `focus-${D}.parquet`,
        'summary-2026-W47.csv',
      ],
      skipped: [],
    });
    expect(readFileSync(join(dir, `allocation-${D}.csv`))).toEqual(await download('csv'));
    expect(readFileSync(join(dir, `focus-${D}.parquet`))).toEqual(await download('focus-parquet'));

    const { sql } = ledger();
    const perTeam = sql
      .prepare(
        `SELECT cost_center, team, SUM(cost) AS cost, COUNT(*) AS calls,
           SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) AS tokens
         FROM calls WHERE status != 'pending' AND (cost > 0 OR input_tokens + output_tokens > 0)
         GROUP BY cost_center, team ORDER BY cost_center, team`,
      )
      .all() as Array<{ cost_center: string; team: string; cost: number; calls: number; tokens: number }>;
    sql.close();
    const summary = csv(readFileSync(join(dir, 'summary-2026-W47.csv')));
    expect(
      summary.map((r) => [r.cost_center, r.team, Number(r.cost_nanos), Number(r.calls), Number(r.tokens)]),
    ).toEqual(perTeam.map((r) => [r.cost_center, r.team, r.cost, r.calls, r.tokens]));
    expect(summary.map((r) => r.cost_center)).toEqual(['CC-1', 'CC-2', 'CC-3']);
    expect(summary.every((r) => r.week === '2026-W47' && r.week_start === '2026-11-16')).toBe(true);

    const again = await scheduler.runDue(Date.UTC(2026, 10, 23, 1));
    expect(again.written).toEqual([]);
    expect(again.skipped).toHaveLength(5);
    await scheduler.close();
  });

  it('the gateway runs its own scheduler from config: it caught up on start (the day before, last week)', async () => {
    const day = join(gatewayDir, 'allocation-2026-11-21.csv');
    const week = join(gatewayDir, 'summary-2026-W46.csv');
    for (let i = 0; i < 100 && !(existsSync(day) && existsSync(week)); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(csv(readFileSync(day))).toEqual([]);
    expect(readFileSync(day, 'utf8').split('\n')[0]).toMatch(/^date,org,team,cost_center,/);
    expect(csv(readFileSync(week))).toEqual([]);
  });
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `node bin/tollgate.js ...args` with a clean environment (no TOLLGATE_* from the caller). */
function tollgate(args: string[]): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('TOLLGATE_')) env[k] = v;
  const proc = spawn(process.execPath, [join(ROOT, 'bin', 'tollgate.js'), ...args], {
    cwd: ROOT,
    env: { ...env, TOLLGATE_LOG_LEVEL: 'warn', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => out.push(d));
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tollgate ${args.join(' ')} timed out:\n${stderr}`));
    }, 30_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

describe('tollgate export (CLI)', () => {
  it('bad dates: a non-zero exit and a clear message', async () => {
    const bad = await tollgate(['export', '--from', '2026-13-01', '--to', D, '--db', h.dbFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(
      "tollgate: --from must be a calendar date YYYY-MM-DD (UTC), got '2026-13-01'",
    );
    expect(bad.stdout.length).toBe(0);
    const reversed = await tollgate(['export', '--from', D, '--to', '2026-11-01', '--db', h.dbFile]);
    expect(reversed.code).toBe(1);
    expect(reversed.stderr.trim()).toBe(`tollgate: --to (2026-11-01) is before --from (${D})`);
    const format = await tollgate(['export', '--from', D, '--to', D, '--format', 'xlsx', '--db', h.dbFile]);
    expect(format.code).toBe(1);
    expect(format.stderr).toContain("--format must be one of csv, parquet, focus, focus-parquet, got 'xlsx'");
  });

  it('offline: reads the SQLite file read-only while the gateway holds its lock; same bytes as the API', async () => {
    expect(existsSync(`${h.dbFile}.lock`)).toBe(true);
    const run = await tollgate(['export', '--from', D, '--to', D, '--db', h.dbFile]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe((await download('csv')).toString());
    const missing = await tollgate(['export', '--from', D, '--to', D, '--db', join(tmp, 'nope.db')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`tollgate: cannot read the ledger ${join(tmp, 'nope.db')}`);
  });

  it('offline with --config: the ledger it names and its prices; the same FOCUS file as the API', async () => {
    const config = join(tmp, 'tollgate.yaml');
    const providers = { mock: { kind: 'openai', base_url: `${h.mock.url}/v1`, api_key: 'k' } };
    const raw = { storage: { sqlite: h.dbFile }, providers, models: TEST_MODELS, orgs: WORKLOAD_ORGS };
    writeFileSync(config, JSON.stringify(raw));
    const run = await tollgate(['export', '--from', D, '--to', D, '--format', 'focus', '-c', config]);
    expect(run.stderr).toBe('');
    expect(run.stdout.toString()).toBe((await download('focus')).toString());
  });

  it('online: through the admin API into --out', async () => {
    const out = join(tmp, 'focus.parquet');
    const run = await tollgate([
      '--url',
      h.gateway.url,
      '--master-key',
      MASTER,
      'export',
      '--from',
      D,
      '--to',
      D,
      '--format',
      'focus-parquet',
      '--out',
      out,
    ]);
    expect(run.code).toBe(0);
    const { totals, sql } = ledger();
    sql.close();
    const rows = await parquet(readFileSync(out));
    expect(run.stderr).toMatch(new RegExp(`^tollgate: wrote ${rows.length} rows \\(\\$[0-9.]+\\) to `));
    expect(sumBig(rows.map((r) => parquetNanos(r.BilledCost)))).toBe(totals.nanos);
    const noKey = await tollgate(['--url', h.gateway.url, 'export', '--from', D, '--to', D]);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('no master key');
  });
});
