import type { BudgetPolicy } from '../../budget/types.ts';
import { currentWindow } from '../../budget/windows.ts';
import { denial } from '../../errors.ts';
import type { CallRecord } from '../../ledger/types.ts';
import type { Nanos } from '../../money.ts';
import { fail, ok, type Result } from '../../result.ts';
import type { Services } from '../../server/services.ts';
import { buildAllocation } from '../export/allocation.ts';
import { checkAttribution } from './attribution.ts';
import { checkCapsHeld } from './caps.ts';
import { checkCountersMatchLedger } from './counters.ts';
import { listEstimatedUsage } from './estimated.ts';
import { type ExportVendor, parseProviderExport, utcDay } from './reconcile/providerExport.ts';
import { reconcile } from './reconcile/reconcile.ts';
import { spendByPolicy } from './replay.ts';
import { checkReservations } from './reservations.ts';
import { selfCheck } from './selfCheck.ts';
import type { AuditCheck, AuditReport } from './types.ts';
import { iso } from './views.ts';

export interface AuditRequest {
  fromMs: number;
  toMs: number;
  /** Allowed relative difference against the provider export, e.g. 0.01. */
  tolerance: number;
  /** The provider's usage / cost export, parsed JSON (see reconcile/providerExport.ts). */
  providerUsage?: unknown;
  /** Provider ids whose rows the export covers; default: every provider of the export's kind. */
  providers?: string[];
}

const DAY_MS = 86_400_000;

/** Provider kinds whose traffic each vendor's export bills. */
const VENDOR_KINDS: Record<ExportVendor, string[]> = { openai: ['openai'], anthropic: ['anthropic'] };

/**
 * How far back rows are needed: the audited range from the start of its first UTC day, the
 * calendar window holding `from`, a whole rolling window before `from`, and every policy's
 * current window (for the counters check).
 */
function earliestNeeded(policies: readonly BudgetPolicy[], fromMs: number, nowMs: number): number {
  let earliest = Math.floor(fromMs / DAY_MS) * DAY_MS;
  for (const p of policies) {
    earliest = Math.min(earliest, currentWindow(p.window, nowMs).startMs);
    earliest = Math.min(
      earliest,
      p.window.kind === 'calendar'
        ? currentWindow(p.window, fromMs).startMs
        : fromMs - p.window.sizeMs - p.window.bucketMs,
    );
  }
  return earliest;
}

async function settledRowsSince(svc: Services, fromMs: number): Promise<CallRecord[]> {
  const rows: CallRecord[] = [];
  for await (const row of svc.store.ledger.iterateSettledSince(fromMs)) rows.push(row);
  return rows;
}

/** The FinOps allocation table (what the exports publish), summed per team. */
async function allocationByTeam(rows: readonly CallRecord[]): Promise<Array<{ team: string; cost: Nanos }>> {
  const byTeam = new Map<string, Nanos>();
  for (const r of await buildAllocation(rows, { by: 'day', includeUnbilled: true })) {
    byTeam.set(r.team, (byTeam.get(r.team) ?? 0) + r.cost);
  }
  return [...byTeam].map(([team, cost]) => ({ team, cost }));
}

function skippedReconciliation(): AuditCheck<'provider_reconciliation'> {
  return {
    name: 'provider_reconciliation',
    ok: true,
    skipped: true,
    summary: 'skipped: no provider usage export given (tollgate audit --provider-usage FILE)',
    items: [],
  };
}

function reconciliation(
  svc: Services,
  req: AuditRequest,
  rows: readonly CallRecord[],
): Result<AuditCheck<'provider_reconciliation'>> {
  if (req.providerUsage === undefined || req.providerUsage === null) return ok(skippedReconciliation());
  const parsed = parseProviderExport(req.providerUsage);
  if (!parsed.ok) {
    return fail(
      denial('invalid_request', `providerUsage is not a usage export: ${parsed.message}`, {
        param: 'providerUsage',
      }),
    );
  }
  const vendor = parsed.value.vendor;
  const unknown = (req.providers ?? []).filter((id) => !svc.config.providers.has(id));
  if (unknown.length > 0) {
    return fail(denial('invalid_request', `unknown provider ${unknown.join(', ')}`, { param: 'provider' }));
  }
  const providers = new Set(
    req.providers ??
      [...svc.config.providers.values()]
        .filter((p) => VENDOR_KINDS[vendor].includes(p.kind))
        .map((p) => p.id),
  );
  const upstreamModelOf = (row: CallRecord) =>
    svc.config.routes.get(row.modelUsed)?.find((r) => r.provider === row.provider)?.upstreamModel ??
    row.modelUsed;
  return ok(
    reconcile({
      export: parsed.value,
      rows: rows.filter((r) => r.usageSource === 'provider' && providers.has(r.provider)),
      upstreamModelOf,
      fromDay: utcDay(req.fromMs),
      toDay: utcDay(Math.max(req.fromMs, req.toMs - 1)),
      tolerance: req.tolerance,
    }),
  );
}

/**
 * The audit, run inside the gateway: it needs the live counters as well as the ledger. The
 * ledger writer is flushed first; after that, with the embedded SQLite store, every read is
 * synchronous underneath (only microtasks between them), so no request settles between
 * reading the rows and reading the counters. Rows are held in memory for the run.
 */
export async function runAudit(svc: Services, req: AuditRequest): Promise<Result<AuditReport>> {
  await svc.ledger.flush();
  const now = svc.clock();
  const policies = svc.budgets.policies();
  const settled = await settledRowsSince(svc, earliestNeeded(policies, req.fromMs, now));
  const pending = await svc.store.ledger.pendingRows();
  const inRange = (r: CallRecord) => r.tsStart >= req.fromMs && r.tsStart < req.toMs;
  const rowsInRange = [...settled.filter(inRange), ...pending.filter(inRange)];

  const recon = reconciliation(
    svc,
    req,
    settled.filter((r) => r.tsStart >= Math.floor(req.fromMs / DAY_MS) * DAY_MS),
  );
  if (!recon.ok) return recon;

  const [keys, teams, projects, byTeam] = await Promise.all([
    svc.store.entities.listKeys({ includeRevoked: true }),
    svc.store.entities.listTeams(),
    svc.store.entities.listProjects(),
    svc.store.ledger.usage('team', { from: req.fromMs, to: req.toMs }),
  ]);
  const attribution = checkAttribution(rowsInRange, {
    keys: new Map(keys.map((k) => [k.id, k])),
    teams: new Map(teams.map((t) => [t.id, t])),
    projects: new Map(projects.map((p) => [p.id, p])),
    envs: svc.config.envs,
  });
  const spend = spendByPolicy(policies, settled);
  const caps = checkCapsHeld(policies, spend, req.fromMs, req.toMs);
  const states = new Map(
    await Promise.all(policies.map(async (p) => [p.id, await svc.budgets.state(p, now)] as const)),
  );
  const counters = checkCountersMatchLedger(policies, spend, (p) => states.get(p.id)!, now);
  const reservations = checkReservations(pending, await svc.budgets.counters.openReservations(), now);
  const checks: AuditCheck[] = [
    attribution,
    caps,
    counters,
    reservations,
    listEstimatedUsage(rowsInRange),
    recon.value,
    selfCheck({
      attribution,
      caps,
      counters,
      reservations,
      rows: rowsInRange,
      allocations: [
        { source: 'the allocation table', byTeam: await allocationByTeam(settled.filter(inRange)) },
        { source: 'the usage API', byTeam: byTeam.map((t) => ({ team: t.group, cost: t.cost })) },
      ],
    }),
  ];
  return ok({
    ok: checks.every((c) => c.ok),
    from: iso(req.fromMs),
    to: iso(req.toMs),
    generatedAt: iso(now),
    tolerance: req.tolerance,
    checks,
  });
}
