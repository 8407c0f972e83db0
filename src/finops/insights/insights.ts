import type { BudgetPolicy, PolicyState } from '../../budget/types.ts';
import type { CallRecord } from '../../ledger/types.ts';
import { formatUsd, type Nanos } from '../../money.ts';
import { forecastSpend, type MoneyView, type SpendForecast } from './forecast.ts';

export const NO_PROMPT_TEXT_NOTE =
  'Tollgate stores no prompt or completion text: an expensive prompt is named by its call id, request id, feature and model.';

export interface InsightOptions {
  fromMs: number;
  toMs: number;
  nowMs: number;
  /** Length of the top lists. */
  limit: number;
  /** A request id with at least this many calls is a possible agent loop. */
  loopMinCalls: number;
  /** A request (or call) with at least this many failed attempts is a retry loop. */
  loopMinFailures: number;
}

export const DEFAULT_INSIGHT_LIMITS = { limit: 10, loopMinCalls: 5, loopMinFailures: 2 };

export interface ExpensiveCall {
  callId: string;
  requestId: string | null;
  feature: string | null;
  team: string;
  project: string;
  env: string;
  /** The model of the last attempt. */
  model: string;
  provider: string;
  attempts: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  cost: MoneyView;
  at: string;
}

export interface FeatureSpend {
  feature: string | null;
  calls: number;
  cost: MoneyView;
  spendShare: number;
}

export type LoopReason = 'many_calls' | 'many_failures' | 'retried';

export interface RetryLoop {
  /** The request id, or null for a call made without one (then callId names it). */
  requestId: string | null;
  callId: string | null;
  calls: number;
  attempts: number;
  failures: number;
  maxAttempt: number;
  cost: MoneyView;
  features: Array<string | null>;
  reasons: LoopReason[];
  first: string;
  last: string;
}

export interface ModelShare {
  model: string;
  calls: number;
  cost: MoneyView;
  spendShare: number;
  callShare: number;
}

export interface InsightsReport {
  from: string;
  to: string;
  generatedAt: string;
  note: string;
  totals: { calls: number; attempts: number; cost: MoneyView };
  topCalls: ExpensiveCall[];
  topFeatures: FeatureSpend[];
  retryLoops: RetryLoop[];
  modelMix: ModelShare[];
  forecasts: SpendForecast[];
}

const FAILED = new Set(['upstream_error', 'client_aborted', 'orphaned']);

function money(nanos: Nanos): MoneyView {
  return { usd: formatUsd(nanos), nanos };
}

/** A display ratio (never used for money arithmetic), 4 decimals. */
function share(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000;
}

function groupBy<K>(rows: readonly CallRecord[], keyOf: (r: CallRecord) => K): Map<K, CallRecord[]> {
  const out = new Map<K, CallRecord[]>();
  for (const r of rows) {
    const k = keyOf(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

const sumOf = (rows: readonly CallRecord[], pick: (r: CallRecord) => number) =>
  rows.reduce((sum, r) => sum + pick(r), 0);

function expensiveCalls(rows: readonly CallRecord[], limit: number): ExpensiveCall[] {
  const calls: ExpensiveCall[] = [];
  for (const [callId, attempts] of groupBy(rows, (r) => r.callId)) {
    const last = attempts.reduce((a, b) => (b.attempt > a.attempt ? b : a));
    const cost = sumOf(attempts, (r) => r.cost);
    const tokens = sumOf(attempts, (r) => r.inputTokens + r.outputTokens);
    if (cost === 0 && tokens === 0) continue;
    calls.push({
      callId,
      requestId: last.requestId,
      feature: last.feature,
      team: last.team,
      project: last.project,
      env: last.env,
      model: last.modelUsed,
      provider: last.provider,
      attempts: attempts.length,
      inputTokens: sumOf(attempts, (r) => r.inputTokens),
      outputTokens: sumOf(attempts, (r) => r.outputTokens),
      cacheReadTokens: sumOf(attempts, (r) => r.cacheReadTokens),
      cacheWriteTokens: sumOf(attempts, (r) => r.cacheWriteTokens),
      reasoningTokens: sumOf(attempts, (r) => r.reasoningTokens),
      cost: money(cost),
      at: new Date(Math.min(...attempts.map((r) => r.tsStart))).toISOString(),
    });
  }
  calls.sort(
    (a, b) =>
      b.cost.nanos - a.cost.nanos ||
      b.inputTokens + b.outputTokens - (a.inputTokens + a.outputTokens) ||
      a.callId.localeCompare(b.callId),
  );
  return calls.slice(0, limit);
}

function featureSpend(rows: readonly CallRecord[], total: Nanos, limit: number): FeatureSpend[] {
  const out: FeatureSpend[] = [];
  for (const [feature, list] of groupBy(rows, (r) => r.feature)) {
    const cost = sumOf(list, (r) => r.cost);
    out.push({
      feature,
      calls: new Set(list.map((r) => r.callId)).size,
      cost: money(cost),
      spendShare: share(cost, total),
    });
  }
  out.sort(
    (a, b) =>
      b.cost.nanos - a.cost.nanos || b.calls - a.calls || String(a.feature).localeCompare(String(b.feature)),
  );
  return out.slice(0, limit);
}

function retryLoops(rows: readonly CallRecord[], opts: InsightOptions): RetryLoop[] {
  const loops: RetryLoop[] = [];
  const byRequest = groupBy(rows, (r) =>
    r.requestId === null ? `call:${r.callId}` : `request:${r.requestId}`,
  );
  for (const list of byRequest.values()) {
    const first = list[0];
    if (!first) continue;
    const calls = new Set(list.map((r) => r.callId)).size;
    const failures = list.filter((r) => FAILED.has(r.status)).length;
    const maxAttempt = Math.max(...list.map((r) => r.attempt));
    const reasons: LoopReason[] = [];
    if (first.requestId !== null && calls >= opts.loopMinCalls) reasons.push('many_calls');
    if (failures >= opts.loopMinFailures) reasons.push('many_failures');
    if (maxAttempt > 1) reasons.push('retried');
    if (reasons.length === 0) continue;
    const times = list.map((r) => r.tsStart);
    loops.push({
      requestId: first.requestId,
      callId: first.requestId === null ? first.callId : null,
      calls,
      attempts: list.length,
      failures,
      maxAttempt,
      cost: money(sumOf(list, (r) => r.cost)),
      features: [...new Set(list.map((r) => r.feature))],
      reasons,
      first: new Date(Math.min(...times)).toISOString(),
      last: new Date(Math.max(...times)).toISOString(),
    });
  }
  loops.sort(
    (a, b) =>
      b.cost.nanos - a.cost.nanos ||
      b.attempts - a.attempts ||
      String(a.requestId ?? a.callId).localeCompare(String(b.requestId ?? b.callId)),
  );
  return loops.slice(0, opts.limit);
}

/** Spend and forwarded attempts per model; refused calls never reached a model and are left out. */
function modelMix(rows: readonly CallRecord[], total: Nanos): ModelShare[] {
  const forwarded = rows.filter((r) => r.status !== 'denied');
  const out: ModelShare[] = [];
  for (const [model, list] of groupBy(forwarded, (r) => r.modelUsed)) {
    const cost = sumOf(list, (r) => r.cost);
    out.push({
      model,
      calls: list.length,
      cost: money(cost),
      spendShare: share(cost, total),
      callShare: share(list.length, forwarded.length),
    });
  }
  out.sort((a, b) => b.cost.nanos - a.cost.nanos || b.calls - a.calls || a.model.localeCompare(b.model));
  return out;
}

/**
 * Cost insights over the settled rows of [from, to): the most expensive calls and features,
 * retry and agent loops, the model mix, and a spend forecast for each budget's current window.
 */
export function computeInsights(
  rows: readonly CallRecord[],
  budgets: ReadonlyArray<{ policy: BudgetPolicy; state: PolicyState }>,
  opts: InsightOptions,
): InsightsReport {
  const settled = rows.filter(
    (r) => r.status !== 'pending' && r.tsStart >= opts.fromMs && r.tsStart < opts.toMs,
  );
  const total = sumOf(settled, (r) => r.cost);
  return {
    from: new Date(opts.fromMs).toISOString(),
    to: new Date(opts.toMs).toISOString(),
    generatedAt: new Date(opts.nowMs).toISOString(),
    note: NO_PROMPT_TEXT_NOTE,
    totals: {
      calls: new Set(settled.map((r) => r.callId)).size,
      attempts: settled.length,
      cost: money(total),
    },
    topCalls: expensiveCalls(settled, opts.limit),
    topFeatures: featureSpend(settled, total, opts.limit),
    retryLoops: retryLoops(settled, opts),
    modelMix: modelMix(settled, total),
    forecasts: budgets.map(({ policy, state }) => forecastSpend(policy, state, opts.nowMs)),
  };
}
