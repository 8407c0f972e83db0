import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditCheck, AuditReport, CheckName } from '../../src/finops/audit/types.ts';
import type { CallRecord } from '../../src/ledger/types.ts';
import { MOCK_ANTHROPIC_API_KEY } from '../../src/mock/anthropic/index.ts';
import { formatUsd } from '../../src/money.ts';
import { rowToCall } from '../../src/store/sqlite/ledger.ts';
import { type Harness, MASTER, startHarness, TEST_MODELS } from '../helpers/harness.ts';
import {
  dayClock,
  seedWorkload,
  settleLedger,
  WORKLOAD_BUDGETS,
  WORKLOAD_CALLS,
  type Workload,
  workloadConfig,
} from '../helpers/workload.ts';

/**
 * The audit through the real server: a mixed workload (3 teams, 2 envs, features, streaming,
 * upstream failures, budget denials, OpenAI- and Anthropic-routed models) passes every check;
 * then each tampering — a deleted ledger row, an inflated counter, an orphaned reservation, a
 * re-bound key, a provider export that disagrees — makes it fail, naming the item.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const DAY = Date.UTC(2026, 10, 22);
const DAY_LABEL = '2026-11-22';
const SONNET = 'claude-sonnet-4-20250514';
/** How the provider's export names what the config calls a model (its upstream model, dated). */
const OPENAI_EXPORT_NAME: Record<string, string> = {
  'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  'custom-priced': 'gpt-4.1-mini-2025-04-14',
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
};

let h: Harness;
let w: Workload;
let db: Database.Database;
let tmp: string;

beforeAll(async () => {
  h = await startHarness({
    clock: dayClock(DAY),
    config: (mockUrl) =>
      workloadConfig({
        providers: {
          mock: {
            kind: 'openai',
            base_url: `${mockUrl}/v1`,
            api_key: 'upstream-secret',
            forward_headers: ['x-mock-*'],
          },
          anthropic: {
            kind: 'anthropic',
            base_url: mockUrl,
            api_key: MOCK_ANTHROPIC_API_KEY,
            forward_headers: ['x-mock-*'],
          },
        },
        models: [...TEST_MODELS, { id: SONNET, provider: 'anthropic', max_output_tokens: 64000 }],
        budgets: [
          ...WORKLOAD_BUDGETS,
          // A rolling window and a soft cap the workload blows through (soft never fails the audit).
          {
            id: 'search-hourly',
            match: { team: 'search' },
            limit: { usd: 10 },
            window: { kind: 'rolling', size: '1h' },
          },
          { id: 'support-soft', match: { team: 'support' }, limit: { usd: 0.000001 }, mode: 'soft' },
        ],
      }),
  });
  w = await seedWorkload(h, [
    ...WORKLOAD_CALLS,
    { key: 'searchProd', model: SONNET, feature: 'search', requestId: 'req-claude-1' },
    { key: 'searchProd', model: SONNET, feature: 'search', requestId: 'req-claude-1', stream: true },
    { key: 'supportProd', model: SONNET, feature: 'chat', headers: { 'x-mock-cached-tokens': '3' } },
  ]);
  db = new Database(h.dbFile);
  tmp = mkdtempSync(join(tmpdir(), 'tollgate-audit-'));
});
afterAll(async () => {
  db?.close();
  await h?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const ledgerRows = (): CallRecord[] =>
  (
    db.prepare('SELECT * FROM calls ORDER BY ts_start, call_id, attempt').all() as Record<string, unknown>[]
  ).map(rowToCall);

async function audit(body: Record<string, unknown> = {}): Promise<AuditReport> {
  const r = await h.admin<AuditReport>('POST', '/admin/v1/audit', body);
  if (r.status !== 200) throw new Error(`audit answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

function check<N extends CheckName>(report: AuditReport, name: N): AuditCheck<N> {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} check`);
  return found as AuditCheck<N>;
}

const failing = (report: AuditReport) => report.checks.filter((c) => !c.ok).map((c) => c.name);

// ---------- provider exports built from the ledger (the "provider's" view) ----------

interface Sums {
  input: number;
  uncached: number;
  cacheRead: number;
  cacheWrite: number;
  output: number;
  requests: number;
  nanos: number;
}

function providerSums(provider: string, nameOf: (r: CallRecord) => string): Map<string, Sums> {
  const out = new Map<string, Sums>();
  for (const r of ledgerRows()) {
    if (r.provider !== provider || r.usageSource !== 'provider' || r.status === 'pending') continue;
    const name = nameOf(r);
    const s = out.get(name) ?? {
      input: 0,
      uncached: 0,
      cacheRead: 0,
      cacheWrite: 0,
      output: 0,
      requests: 0,
      nanos: 0,
    };
    s.input += r.inputTokens + r.cacheReadTokens + r.cacheWriteTokens;
    s.uncached += r.inputTokens;
    s.cacheRead += r.cacheReadTokens;
    s.cacheWrite += r.cacheWriteTokens;
    s.output += r.outputTokens;
    s.requests += 1;
    s.nanos += r.cost;
    out.set(name, s);
  }
  return out;
}

/** OpenAI usage (group_by=model) and costs (group_by=line_item) pages for the day. */
function openAiExport(bump: { model: string; factor: number } | null = null): unknown[] {
  const sums = providerSums('mock', (r) => OPENAI_EXPORT_NAME[r.modelUsed] ?? r.modelUsed);
  const start = DAY / 1000;
  const bucket = (results: unknown[]) => ({
    object: 'bucket',
    start_time: start,
    end_time: start + 86_400,
    results,
  });
  const usage = [...sums].map(([model, s]) => ({
    object: 'organization.usage.completions.result',
    input_tokens: bump?.model === model ? Math.round(s.input * bump.factor) : s.input,
    input_cached_tokens: s.cacheRead,
    output_tokens: s.output,
    num_model_requests: s.requests,
    model,
    project_id: null,
    user_id: null,
    api_key_id: null,
    batch: null,
  }));
  const costs = [...sums].map(([model, s]) => ({
    object: 'organization.costs.result',
    amount: { value: Number(formatUsd(s.nanos)), currency: 'usd' },
    line_item: `${model}, input`,
    project_id: null,
  }));
  return [
    { object: 'page', data: [bucket(usage)], has_more: false, next_page: null },
    { object: 'page', data: [bucket(costs)], has_more: false, next_page: null },
  ];
}

/** Cents with up to 7 decimals: exact for integer nanos. */
function cents(nanos: number): string {
  const whole = BigInt(nanos) / 10_000_000n;
  const frac = (BigInt(nanos) % 10_000_000n).toString().padStart(7, '0');
  return `${whole}.${frac}`;
}

/** Anthropic usage report (group_by[]=model) and cost report for the day. */
function anthropicExport(outputBump = 1): unknown[] {
  const sums = providerSums('anthropic', (r) => r.modelUsed);
  const bucket = (results: unknown[]) => ({
    starting_at: `${DAY_LABEL}T00:00:00Z`,
    ending_at: '2026-11-23T00:00:00Z',
    results,
  });
  const usage = [...sums].map(([model, s]) => ({
    uncached_input_tokens: s.uncached,
    cache_read_input_tokens: s.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: s.cacheWrite, ephemeral_1h_input_tokens: 0 },
    output_tokens: Math.round(s.output * outputBump),
    server_tool_use: { web_search_requests: 0 },
    api_key_id: null,
    workspace_id: null,
    model,
    service_tier: 'standard',
    context_window: '0-200k',
  }));
  const costs = [...sums].map(([model, s]) => ({
    currency: 'USD',
    amount: cents(s.nanos),
    model,
    cost_type: 'tokens',
    description: `${model} tokens`,
  }));
  return [
    { data: [bucket(usage)], has_more: false, next_page: null },
    { data: [bucket(costs)], has_more: false, next_page: null },
  ];
}

// ---------- the CLI ----------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tollgate(args: string[]): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('TOLLGATE_')) env[k] = v;
  const proc = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'tollgate.js'), '--url', h.gateway.url, '--master-key', MASTER, ...args],
    { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tollgate ${args.join(' ')} timed out:\n${stdout}\n${stderr}`));
    }, 30_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------- the tests ----------

describe('the audit on a mixed workload', () => {
  it('seeded what the issue asks for: 3 teams, 2 envs, features, streams, failures, denials, two providers', () => {
    const rows = ledgerRows();
    expect(new Set(rows.map((r) => r.team))).toEqual(new Set(['search', 'support', 'growth']));
    expect(new Set(rows.map((r) => r.env))).toEqual(new Set(['prod', 'dev']));
    expect(new Set(rows.map((r) => r.provider))).toEqual(new Set(['mock', 'anthropic']));
    expect(rows.filter((r) => r.stream).length).toBeGreaterThanOrEqual(6);
    expect(rows.filter((r) => r.status === 'upstream_error').length).toBeGreaterThanOrEqual(3);
    expect(rows.filter((r) => r.errorCode === 'budget_exceeded').map((r) => r.denialPolicy)).toEqual([
      'growth-dev-requests',
      'growth-dev-requests',
    ]);
    expect(rows.every((r) => r.tsStart >= DAY && r.tsStart < DAY + 86_400_000)).toBe(true);
  });

  it('passes every check, lists the estimated rows and the four layers', async () => {
    const report = await audit();
    expect(failing(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'attribution',
      'caps_held',
      'counters_match_ledger',
      'no_orphaned_reservations',
      'estimated_usage',
      'provider_reconciliation',
      'self_check',
    ]);
    const estimated = ledgerRows().filter((r) => r.usageSource === 'estimated');
    expect(estimated.length).toBe(2);
    expect(
      check(report, 'estimated_usage')
        .items.map((i) => i.callId)
        .sort(),
    ).toEqual(estimated.map((r) => r.callId).sort());
    expect(check(report, 'provider_reconciliation')).toMatchObject({ ok: true, skipped: true, items: [] });
    expect(check(report, 'self_check').items.map((i) => [i.layer, i.ok])).toEqual([
      ['logging', true],
      ['attribution', true],
      ['allocation', true],
      ['enforcement', true],
    ]);
    const total = ledgerRows().reduce((s, r) => s + r.cost, 0);
    expect(check(report, 'self_check').items[2]?.reason).toContain(`$${formatUsd(total)}, the ledger total`);
  });

  it('refuses a malformed request with a catalogued error', async () => {
    const bad = await h.admin('POST', '/admin/v1/audit', { from: 'yesterday-ish' });
    expect(bad.status).toBe(400);
    const notExport = await h.admin<{ error: { code: string; message: string } }>('POST', '/admin/v1/audit', {
      providerUsage: { rows: [] },
    });
    expect(notExport.status).toBe(400);
    expect(notExport.body.error.code).toBe('invalid_request');
    expect(notExport.body.error.message).toContain('providerUsage');
  });
});

describe('(e) reconciliation against the provider usage export', () => {
  it('passes with an OpenAI usage + costs export and an Anthropic usage + cost report that match the ledger', async () => {
    const openai = check(await audit({ providerUsage: openAiExport() }), 'provider_reconciliation');
    expect(openai.items).toEqual([]);
    expect(openai.ok).toBe(true);
    expect(openai.summary).toContain('openai export: 3 day × model cells over 1 day agree');
    const anthropic = check(await audit({ providerUsage: anthropicExport() }), 'provider_reconciliation');
    expect(anthropic.items).toEqual([]);
    expect(anthropic.summary).toContain('anthropic export: 1 day × model cell over 1 day agrees');
  });

  it('fails naming the model and day when the provider reports 10% more tokens', async () => {
    const report = await audit({
      providerUsage: openAiExport({ model: 'gpt-4.1-mini-2025-04-14', factor: 1.1 }),
    });
    expect(report.ok).toBe(false);
    expect(failing(report)).toEqual(['provider_reconciliation']);
    const sums = providerSums('mock', (r) => OPENAI_EXPORT_NAME[r.modelUsed] ?? r.modelUsed);
    const ledgerInput = sums.get('gpt-4.1-mini-2025-04-14')?.input ?? 0;
    expect(check(report, 'provider_reconciliation').items).toEqual([
      {
        kind: 'usage_mismatch',
        day: DAY_LABEL,
        model: 'gpt-4.1-mini-2025-04-14',
        metric: 'input_tokens',
        provider: Math.round(ledgerInput * 1.1),
        ledger: ledgerInput,
        relativeDifference: expect.closeTo(1 - ledgerInput / Math.round(ledgerInput * 1.1), 5),
      },
    ]);
    const claude = check(await audit({ providerUsage: anthropicExport(1.1) }), 'provider_reconciliation');
    expect(claude.items.map((i) => [i.day, i.model, i.metric])).toEqual([
      [DAY_LABEL, SONNET, 'output_tokens'],
    ]);
    // Within a wider tolerance the same export passes.
    const loose = await audit({ providerUsage: anthropicExport(1.1), tolerance: 0.2 });
    expect(loose.ok).toBe(true);
  });

  it('`tollgate audit` exits 0 on a pass and non-zero naming the failing item', async () => {
    const good = join(tmp, 'openai-usage.json');
    const bad = join(tmp, 'openai-usage-bad.json');
    writeFileSync(good, JSON.stringify(openAiExport()));
    writeFileSync(bad, JSON.stringify(openAiExport({ model: 'gpt-4.1-mini-2025-04-14', factor: 1.1 })));
    const [pass, json, fail] = await Promise.all([
      tollgate(['audit', '--provider-usage', good]),
      tollgate(['audit', '--provider-usage', bad, '--json']),
      tollgate(['audit', '--provider-usage', bad, '--tolerance', '0.01']),
    ]);
    expect(pass.stderr).toBe('');
    expect(pass.code).toBe(0);
    expect(pass.stdout).toContain('PASS  provider_reconciliation: openai export');
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stdout) as AuditReport;
    expect(report.ok).toBe(false);
    expect(check(report, 'provider_reconciliation').items[0]).toMatchObject({
      model: 'gpt-4.1-mini-2025-04-14',
      day: DAY_LABEL,
    });
    expect(fail.code).toBe(2);
    expect(fail.stdout).toContain('FAIL  provider_reconciliation');
    expect(fail.stdout).toContain(`gpt-4.1-mini-2025-04-14 on ${DAY_LABEL}: input_tokens`);
    const unreadable = await tollgate(['audit', '--provider-usage', join(tmp, 'missing.json')]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain('cannot read');
  });
});

describe('each tampering fails the audit, naming the item', () => {
  it('(d) a key re-bound to another team after the fact names the key and its calls', async () => {
    const key = w.keys.searchDev;
    db.prepare("UPDATE keys SET team = 'support', project = 'bot' WHERE id = ?").run(key.id);
    try {
      const report = await audit();
      expect(failing(report)).toEqual(['attribution', 'self_check']);
      const callIds = [
        ...new Set(
          ledgerRows()
            .filter((r) => r.keyId === key.id)
            .map((r) => r.callId),
        ),
      ];
      expect(callIds.length).toBe(2);
      expect(check(report, 'attribution').items).toEqual([
        {
          kind: 'key_rebound',
          keyId: key.id,
          fields: [
            { field: 'team', row: 'search', key: 'support' },
            { field: 'project', row: 'ranker', key: 'bot' },
          ],
          callIds,
        },
      ]);
    } finally {
      db.prepare("UPDATE keys SET team = 'search', project = 'ranker' WHERE id = ?").run(key.id);
    }
    expect((await audit()).ok).toBe(true);
  });

  it('(c) an orphaned reservation: a pending row past its lease, then a reservation with no row', async () => {
    const svc = h.gateway.services;
    const now = svc.clock();
    const template = ledgerRows().find((r) => r.keyId === w.keys.searchProd.id && r.status === 'ok');
    if (!template) throw new Error('no template row');
    const orphan: CallRecord = {
      ...template,
      callId: 'call_orphan_audit_test',
      attempt: 1,
      tsStart: now - 5_000,
      tsEnd: null,
      status: 'pending',
      usageSource: 'none',
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cost: 0,
      reserved: 123_000,
      leaseUntil: now - 1_000,
    };
    await svc.store.ledger.writeBatch([orphan]);
    try {
      const report = await audit();
      expect(failing(report)).toEqual(['no_orphaned_reservations', 'self_check']);
      expect(check(report, 'no_orphaned_reservations').items).toEqual([
        {
          kind: 'expired_lease',
          callId: 'call_orphan_audit_test',
          attempt: 1,
          leaseUntil: new Date(now - 1_000).toISOString(),
          reserved: { usd: '0.000123', nanos: 123_000 },
        },
        {
          kind: 'open_reservations_mismatch',
          openReservations: 0,
          pendingRows: 1,
          pendingCallIds: ['call_orphan_audit_test'],
        },
      ]);
      const logging = check(report, 'self_check').items.find((i) => i.layer === 'logging');
      expect(logging?.ok).toBe(false);
      expect(logging?.reason).toContain('call_orphan_audit_test');
    } finally {
      db.prepare("DELETE FROM calls_pending WHERE call_id = 'call_orphan_audit_test'").run();
    }
    expect((await audit()).ok).toBe(true);

    const policy = svc.budgets.get('acme-monthly');
    if (!policy) throw new Error('no policy');
    const held = await svc.budgets.reserve(
      'leaked-reservation',
      [policy],
      { nanos: 1_000, tokens: 10, requests: 1 },
      now,
    );
    expect(held.ok).toBe(true);
    try {
      const report = await audit();
      expect(failing(report)).toEqual(['no_orphaned_reservations', 'self_check']);
      expect(check(report, 'no_orphaned_reservations').items).toEqual([
        { kind: 'open_reservations_mismatch', openReservations: 1, pendingRows: 0, pendingCallIds: [] },
      ]);
    } finally {
      await svc.budgets.counters.release('leaked-reservation');
    }
    expect((await audit()).ok).toBe(true);
  });

  it('(b) an inflated counter names the policy; a cap blown by an inserted row names the call', async () => {
    const svc = h.gateway.services;
    const policy = svc.budgets.get('search-hourly');
    if (!policy) throw new Error('no policy');
    const before = (await svc.budgets.state(policy, svc.clock())).spent;
    await svc.budgets.counters.addSpent(policy, { nanos: 5_000, tokens: 0, requests: 0 }, svc.clock());
    const report = await audit();
    expect(failing(report)).toEqual(['counters_match_ledger', 'self_check']);
    const items = check(report, 'counters_match_ledger').items;
    expect(items.map((i) => i.policyId)).toEqual(['search-hourly']);
    expect(items[0]?.counter.nanos).toBe(before.nanos + 5_000);
    expect(items[0]?.ledger.nanos).toBe(before.nanos);
    expect(check(report, 'self_check').items.find((i) => i.layer === 'enforcement')?.ok).toBe(false);

    // A settled row slipped into the ledger past growth/dev's 2-request cap.
    const template = ledgerRows().find((r) => r.keyId === w.keys.growthDev.id && r.status === 'ok');
    if (!template) throw new Error('no growth/dev row');
    await svc.store.ledger.writeBatch([
      { ...template, callId: 'call_over_cap', tsStart: svc.clock() - 1_000 },
    ]);
    const over = await audit();
    expect(check(over, 'caps_held').items).toEqual([
      {
        kind: 'cap_exceeded',
        policyId: 'growth-dev-requests',
        unit: 'requests',
        limit: 2,
        spent: 3,
        windowStart: '2026-11-01T00:00:00.000Z',
        windowEnd: '2026-12-01T00:00:00.000Z',
        callId: 'call_over_cap',
        attempt: 1,
      },
    ]);
    db.prepare("DELETE FROM calls WHERE call_id = 'call_over_cap'").run();

    // Counters are rebuilt from the ledger at startup: the audit passes again.
    await h.restart();
    expect(failing(await audit())).toEqual([]);
  });

  it('(a) a deleted final row: the counters disagree for every policy it counted for', async () => {
    const victim = ledgerRows().find(
      (r) => r.keyId === w.keys.searchProd.id && r.status === 'ok' && r.provider === 'mock' && r.cost > 0,
    );
    if (!victim) throw new Error('no row to delete');
    db.prepare('DELETE FROM calls WHERE call_id = ? AND attempt = ?').run(victim.callId, victim.attempt);
    const report = await audit();
    expect(report.ok).toBe(false);
    expect(failing(report)).toEqual(['counters_match_ledger', 'self_check']);
    const items = check(report, 'counters_match_ledger').items;
    expect(items.map((i) => i.policyId).sort()).toEqual(['acme-monthly', 'search-hourly']);
    for (const item of items) {
      expect(item.counter.nanos - item.ledger.nanos).toBe(victim.cost);
      expect(item.counter.requests - item.ledger.requests).toBe(1);
    }
    const logging = check(report, 'self_check').items.find((i) => i.layer === 'logging');
    expect(logging?.reason).toContain('acme-monthly counted 1 settled call the ledger has no row for');
  });

  it('(a) a deleted attempt row of a retried call is caught even after a restart rebuilt the counters', async () => {
    await h.restart();
    await settleLedger(h);
    expect((await audit()).ok).toBe(true);
    const retried = ledgerRows().find((r) => r.requestId === 'req-search-3' && r.attempt === 1);
    if (!retried) throw new Error('no retried call');
    db.prepare('DELETE FROM calls WHERE call_id = ? AND attempt = 1').run(retried.callId);
    const report = await audit();
    expect(failing(report)).toEqual(['self_check']);
    const logging = check(report, 'self_check').items.find((i) => i.layer === 'logging');
    expect(logging).toEqual({
      kind: 'layer',
      layer: 'logging',
      ok: false,
      reason: `attempt rows missing for ${retried.callId}`,
    });
  });
});
