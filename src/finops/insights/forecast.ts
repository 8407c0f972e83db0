import type { BudgetPolicy, PolicyState } from '../../budget/types.ts';
import { windowFingerprint } from '../../budget/windows.ts';
import { formatUsd, type Nanos } from '../../money.ts';

export interface MoneyView {
  usd: string;
  nanos: Nanos;
}

export interface SpendForecast {
  policyId: string;
  mode: BudgetPolicy['mode'];
  window: string;
  windowStart: string;
  /** Calendar: when the window resets; rolling: one window size after its current start. */
  windowEnd: string;
  spent: MoneyView;
  limit: MoneyView | null;
  /** Spend at the window's end at the burn rate so far; null when nothing was spent yet. */
  forecast: MoneyView | null;
  /** forecast / limit (display only), null without a USD limit or a forecast. */
  forecastUtilization: number | null;
  /** When the USD limit runs out at that rate, if before the window's end. */
  exhaustsAt: string | null;
}

function money(nanos: Nanos): MoneyView {
  return { usd: formatUsd(nanos), nanos };
}

/**
 * A linear burn-rate forecast: spend so far ÷ time elapsed since the window's start, carried
 * to the window's end. Integer nanos via BigInt (spent × span overflows 2^53 for large
 * budgets), rounded down.
 */
export function forecastSpend(policy: BudgetPolicy, state: PolicyState, nowMs: number): SpendForecast {
  const start = state.window.startMs;
  const end = policy.window.kind === 'calendar' ? state.window.endMs : start + policy.window.sizeMs;
  const elapsed = nowMs - start;
  const spent = state.spent.nanos;
  const limit = policy.limit.usdNanos;
  let forecast: Nanos | null = null;
  let exhaustsAt: number | null = null;
  if (spent > 0 && elapsed > 0) {
    forecast = Number((BigInt(spent) * BigInt(end - start)) / BigInt(elapsed));
    if (limit !== null) {
      const at = spent >= limit ? nowMs : start + Number((BigInt(limit) * BigInt(elapsed)) / BigInt(spent));
      exhaustsAt = at <= end ? at : null;
    }
  }
  return {
    policyId: policy.id,
    mode: policy.mode,
    window: windowFingerprint(policy.window),
    windowStart: new Date(start).toISOString(),
    windowEnd: new Date(end).toISOString(),
    spent: money(spent),
    limit: limit === null ? null : money(limit),
    forecast: forecast === null ? null : money(forecast),
    forecastUtilization:
      forecast === null || limit === null || limit === 0
        ? null
        : Math.round((forecast / limit) * 10_000) / 10_000,
    exhaustsAt: exhaustsAt === null ? null : new Date(exhaustsAt).toISOString(),
  };
}
