import { budgetStatusView } from '../budget/status.ts';
import type { BudgetPolicy } from '../budget/types.ts';
import { computeInsights, DEFAULT_INSIGHT_LIMITS, type InsightsReport } from '../finops/insights/insights.ts';
import type { CallFilter, CallRecord, CallStatus, UsageDimension, UsageRow } from '../ledger/types.ts';
import { formatUsd, type Nanos } from '../money.ts';
import type { Services } from '../server/services.ts';
import type { HourlyUsageRow } from '../store/interface.ts';
import type { Viewer } from './session.ts';

export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export function moneyView(nanos: Nanos) {
  return { nanos, usd: formatUsd(nanos) };
}

/** The team a viewer is confined to; every ledger filter goes through here, so no query forgets it. */
export function scopedFilter(viewer: Viewer, filter: CallFilter): CallFilter {
  if (viewer.role === 'admin') return filter;
  if (filter.team !== undefined && filter.team !== viewer.team) {
    // Another team's rows were asked for: an empty time range, so the answer is "nothing", not ours.
    return { ...filter, team: viewer.team, from: 0, to: 0 };
  }
  return { ...filter, team: viewer.team };
}

export function startOfUtcDay(ms: number): number {
  return ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);
}

export function utcMonth(ms: number): { startMs: number; endMs: number } {
  const d = new Date(ms);
  return {
    startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

export const WINDOWS = ['today', '24h', '7d', '30d', 'month'] as const;
export type WindowName = (typeof WINDOWS)[number];

export function windowStart(name: WindowName, now: number): number {
  switch (name) {
    case 'today':
      return startOfUtcDay(now);
    case '24h':
      return now - DAY_MS;
    case '7d':
      return now - 7 * DAY_MS;
    case '30d':
      return now - 30 * DAY_MS;
    case 'month':
      return utcMonth(now).startMs;
  }
}

const sumCost = (rows: readonly UsageRow[]) => rows.reduce((s, r) => s + r.cost, 0);

/**
 * Per-hour, per-team totals over [fromMs, toMs) (hour-aligned). From the store's hourly rollup when
 * it has one (SQLite); otherwise one aggregate query per bucket of at least an hour.
 */
export async function hourlyTotals(
  svc: Services,
  viewer: Viewer,
  fromMs: number,
  toMs: number,
): Promise<HourlyUsageRow[]> {
  const fromHour = Math.floor(fromMs / HOUR_MS);
  const toHour = Math.ceil(toMs / HOUR_MS);
  const team = viewer.role === 'team' ? viewer.team : undefined;
  const ledger = svc.store.ledger;
  if (ledger.hourlyUsage) return ledger.hourlyUsage({ fromHour, toHour, team });
  const step = Math.max(1, Math.ceil((toHour - fromHour) / 48));
  const out: HourlyUsageRow[] = [];
  for (let h = fromHour; h < toHour; h += step) {
    const rows = await ledger.usage(
      'team',
      scopedFilter(viewer, { from: h * HOUR_MS, to: Math.min(h + step, toHour) * HOUR_MS }),
    );
    for (const r of rows) out.push({ ...r, hour: h, team: r.group ?? '' });
  }
  return out;
}

const EVENT_FIELDS = [
  'calls',
  'cost',
  'denied',
  'errors',
  'degraded',
  'rerouted',
  'queued',
  'queueMs',
  'retried',
] as const;
type Bucket = { t: number } & Record<(typeof EVENT_FIELDS)[number], number>;

/** Hour rows summed into `buckets` equal time buckets starting at fromHour. */
function toSeries(
  rows: readonly HourlyUsageRow[],
  fromHour: number,
  hoursPerBucket: number,
  buckets: number,
): Bucket[] {
  const series: Bucket[] = Array.from({ length: buckets }, (_, i) => {
    const b = { t: (fromHour + i * hoursPerBucket) * HOUR_MS } as Bucket;
    for (const f of EVENT_FIELDS) b[f] = 0;
    return b;
  });
  for (const r of rows) {
    const b = series[Math.floor((r.hour - fromHour) / hoursPerBucket)];
    if (!b) continue;
    for (const f of EVENT_FIELDS) b[f] += r[f];
  }
  return series;
}

/** The organization (or one team) at a glance: spend, burn, forecast, in-flight exposure. */
export async function overview(svc: Services, viewer: Viewer) {
  await svc.ledger.flush();
  const now = svc.clock();
  const dayStart = startOfUtcDay(now);
  const month = utcMonth(now);
  const seriesFrom = Math.floor(now / HOUR_MS) - 23;
  const from = Math.min(month.startMs, seriesFrom * HOUR_MS);
  const [hours, lastHour, pending] = await Promise.all([
    hourlyTotals(svc, viewer, from, now + 1),
    svc.store.ledger.usage('team', scopedFilter(viewer, { from: now - HOUR_MS, to: now + 1 })),
    svc.store.ledger.pendingRows(),
  ]);
  const dayHour = dayStart / HOUR_MS;
  const monthHour = month.startMs / HOUR_MS;
  const byTeam = new Map<string, { today: number; month: number; calls: number; denied: number }>();
  let today = 0;
  let todayCalls = 0;
  let spentMonth = 0;
  let monthCalls = 0;
  for (const r of hours) {
    if (r.hour < monthHour) continue;
    const t = byTeam.get(r.team) ?? { today: 0, month: 0, calls: 0, denied: 0 };
    t.month += r.cost;
    t.calls += r.calls;
    t.denied += r.denied;
    spentMonth += r.cost;
    monthCalls += r.calls;
    if (r.hour >= dayHour) {
      t.today += r.cost;
      today += r.cost;
      todayCalls += r.calls;
    }
    byTeam.set(r.team, t);
  }
  const inFlight = pending.filter((r) => viewer.role === 'admin' || r.team === viewer.team);
  const elapsed = Math.max(now - month.startMs, 1);
  const monthLength = month.endMs - month.startMs;
  return {
    now: new Date(now).toISOString(),
    scope: viewer.role === 'admin' ? 'organization' : viewer.team,
    today: { ...moneyView(today), calls: todayCalls },
    window: {
      name: 'month',
      start: new Date(month.startMs).toISOString(),
      end: new Date(month.endMs).toISOString(),
      spent: moneyView(spentMonth),
      calls: monthCalls,
      // Straight-line: the window's average burn so far, carried to its end.
      forecast: moneyView(Math.round((spentMonth * monthLength) / elapsed)),
    },
    burnRatePerHour: moneyView(Math.round((spentMonth * HOUR_MS) / elapsed)),
    lastHour: moneyView(sumCost(lastHour)),
    inFlight: {
      calls: inFlight.length,
      reserved: moneyView(inFlight.reduce((s, r) => s + r.reserved, 0)),
      openReservations: viewer.role === 'admin' ? await svc.budgets.counters.openReservations() : null,
    },
    queueDepth: viewer.role === 'admin' ? svc.queue.size : null,
    teams: [...byTeam.entries()]
      .sort((a, b) => b[1].month - a[1].month || a[0].localeCompare(b[0]))
      .map(([team, t]) => ({
        team,
        month: moneyView(t.month),
        today: moneyView(t.today),
        calls: t.calls,
        denied: t.denied,
      })),
    series: toSeries(
      hours.filter((r) => r.hour >= seriesFrom),
      seriesFrom,
      1,
      24,
    ),
  };
}

export const DIMENSIONS: UsageDimension[] = [
  'team',
  'project',
  'env',
  'key',
  'model',
  'feature',
  'user',
  'provider',
  'cost_center',
];

export interface DrillRequest {
  by: UsageDimension;
  window: WindowName;
  team?: string;
  project?: string;
  env?: string;
}

/** One level of team → project → env → key / feature / model, aggregated in the store. */
export async function drill(svc: Services, viewer: Viewer, req: DrillRequest) {
  await svc.ledger.flush();
  const now = svc.clock();
  const filter = scopedFilter(viewer, {
    from: windowStart(req.window, now),
    to: now + 1,
    team: req.team,
    project: req.project,
    env: req.env,
  });
  const rows = await svc.store.ledger.usage(req.by, filter);
  return {
    by: req.by,
    window: req.window,
    filter: { team: filter.team ?? null, project: filter.project ?? null, env: filter.env ?? null },
    total: moneyView(sumCost(rows)),
    rows: rows.map((r) => ({ ...r, cost: moneyView(r.cost) })),
  };
}

export async function events(svc: Services, viewer: Viewer, window: WindowName) {
  await svc.ledger.flush();
  const now = svc.clock();
  const fromHour = Math.floor(windowStart(window, now) / HOUR_MS);
  const toHour = Math.floor(now / HOUR_MS) + 1;
  const hoursPerBucket = toHour - fromHour <= 48 ? 1 : toHour - fromHour <= 24 * 8 ? 6 : 24;
  const buckets = Math.ceil((toHour - fromHour) / hoursPerBucket);
  const rows = await hourlyTotals(svc, viewer, fromHour * HOUR_MS, toHour * HOUR_MS);
  const series = toSeries(rows, fromHour, hoursPerBucket, buckets);
  const totals = { denied: 0, degraded: 0, rerouted: 0, queued: 0, queueMs: 0, retried: 0, errors: 0 };
  for (const b of series)
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += b[k];
  return { window, hoursPerBucket, totals, series };
}

/** Budgets a viewer may see: a team sees those selecting its team or one of its keys, never org-wide ones. */
export function visiblePolicies(svc: Services, viewer: Viewer): BudgetPolicy[] {
  const all = svc.budgets.policies();
  if (viewer.role === 'admin') return all;
  return all.filter((p) => {
    if (p.match.team === viewer.team) return true;
    const key = p.match.key ? svc.keys.get(p.match.key) : undefined;
    return key?.team === viewer.team;
  });
}

export async function budgets(svc: Services, viewer: Viewer) {
  const now = svc.clock();
  const configIds = new Set(svc.config.raw.budgets.map((b) => b.id));
  return Promise.all(
    visiblePolicies(svc, viewer).map(async (p) => ({
      ...budgetStatusView(p, await svc.budgets.state(p, now)),
      source: configIds.has(p.id) ? 'config' : 'api',
    })),
  );
}

export const CALL_STATUSES: CallStatus[] = [
  'pending',
  'ok',
  'denied',
  'upstream_error',
  'client_aborted',
  'orphaned',
];

export function callView(r: CallRecord) {
  return {
    ...r,
    tsStart: new Date(r.tsStart).toISOString(),
    tsStartMs: r.tsStart,
    tsEnd: r.tsEnd === null ? null : new Date(r.tsEnd).toISOString(),
    cost: moneyView(r.cost),
    reserved: moneyView(r.reserved),
  };
}

export async function calls(svc: Services, viewer: Viewer, filter: CallFilter) {
  await svc.ledger.flush();
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 500);
  const rows = await svc.store.ledger.queryCalls(scopedFilter(viewer, { ...filter, limit: limit + 1 }));
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    data: page.map(callView),
    nextBefore: rows.length > limit && last ? last.tsStart : null,
  };
}

/** Every attempt of one call; found by key and start time (the ledger's own index), then by id. */
export async function trace(svc: Services, viewer: Viewer, callId: string, keyId: string, tsMs: number) {
  await svc.ledger.flush();
  const rows = await svc.store.ledger.queryCalls(
    scopedFilter(viewer, { keyId, from: tsMs - 60_000, to: tsMs + 3_600_000, limit: 1000 }),
  );
  const attempts = rows.filter((r) => r.callId === callId).sort((a, b) => a.attempt - b.attempt);
  if (attempts.length === 0) return null;
  return {
    callId,
    cost: moneyView(attempts.reduce((s, r) => s + r.cost, 0)),
    reserved: moneyView(attempts.reduce((s, r) => s + r.reserved, 0)),
    attempts: attempts.map(callView),
  };
}

export async function insights(
  svc: Services,
  viewer: Viewer,
  windowMs: number,
  limit: number,
): Promise<InsightsReport> {
  await svc.ledger.flush();
  const now = svc.clock();
  const fromMs = now - windowMs;
  const rows: CallRecord[] = [];
  for await (const row of svc.store.ledger.iterateSettledSince(fromMs))
    if (viewer.role === 'admin' || row.team === viewer.team) rows.push(row);
  const policies = visiblePolicies(svc, viewer);
  const states = await Promise.all(
    policies.map(async (policy) => ({ policy, state: await svc.budgets.state(policy, now) })),
  );
  return computeInsights(rows, states, {
    ...DEFAULT_INSIGHT_LIMITS,
    limit,
    fromMs,
    toMs: now + 1,
    nowMs: now,
  });
}

/** The small summary the live stream pushes. */
export async function liveSummary(svc: Services, viewer: Viewer) {
  await svc.ledger.flush();
  const now = svc.clock();
  const [today, pending, recent] = await Promise.all([
    svc.store.ledger.usage('team', scopedFilter(viewer, { from: startOfUtcDay(now), to: now + 1 })),
    svc.store.ledger.pendingRows(),
    svc.store.ledger.queryCalls(scopedFilter(viewer, { limit: 5 })),
  ]);
  const inFlight = pending.filter((r) => viewer.role === 'admin' || r.team === viewer.team);
  return {
    now: new Date(now).toISOString(),
    today: { ...moneyView(sumCost(today)), calls: today.reduce((s, r) => s + r.calls, 0) },
    inFlight: { calls: inFlight.length, reserved: moneyView(inFlight.reduce((s, r) => s + r.reserved, 0)) },
    queueDepth: viewer.role === 'admin' ? svc.queue.size : null,
    recent: recent.map(callView),
  };
}
