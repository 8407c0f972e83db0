import { formatUsd, nanosToUsdNumber } from '../money.ts';
import { remainingOf, usedFraction } from './plan.ts';
import type { Amount, BudgetPolicy, PolicyState } from './types.ts';

function money(nanos: number | null) {
  return nanos === null ? null : { usd: nanosToUsdNumber(nanos), usdExact: formatUsd(nanos), nanos };
}

function amountView(a: Amount) {
  return { ...money(a.nanos), tokens: a.tokens, requests: a.requests };
}

/** A policy's state as the admin API, CLI and dashboard show it. */
export function budgetStatusView(policy: BudgetPolicy, state: PolicyState) {
  const remaining = remainingOf(policy.limit, state.spent, state.reserved);
  return {
    id: policy.id,
    match: policy.match,
    mode: policy.mode,
    window:
      policy.window.kind === 'calendar'
        ? { kind: 'calendar', every: policy.window.every, tz: policy.window.tz }
        : { kind: 'rolling', sizeMs: policy.window.sizeMs, bucketMs: policy.window.bucketMs },
    windowStart: new Date(state.window.startMs).toISOString(),
    windowEnd: new Date(state.window.endMs).toISOString(),
    resetsAt: state.window.resetsAtMs === null ? null : new Date(state.window.resetsAtMs).toISOString(),
    limit: { ...money(policy.limit.usdNanos), tokens: policy.limit.tokens, requests: policy.limit.requests },
    spent: amountView(state.spent),
    reserved: amountView(state.reserved),
    remaining: { ...money(remaining.nanos), tokens: remaining.tokens, requests: remaining.requests },
    utilization: usedFraction(policy, state, false),
    exposure: usedFraction(policy, state, true),
    alerts: policy.alerts,
    clamp: policy.clamp,
    degrade: policy.degrade,
    onExhausted: policy.onExhausted,
  };
}
