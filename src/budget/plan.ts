import type { Nanos } from '../money.ts';
import { AMOUNT_UNITS } from './amount.ts';
import type { Amount, BudgetPolicy, Limits, PolicyState, Remaining } from './types.ts';

/**
 * True when `amount` fits on top of spent + reserved in every limited unit. The one fit rule
 * every counter store applies, so embedded and cluster mode agree on what "fits" means.
 */
export function fitsWithin(limit: Limits, spent: Amount, reserved: Amount, amount: Amount): boolean {
  for (const { unit, limit: field } of AMOUNT_UNITS) {
    const cap = limit[field];
    if (cap !== null && spent[unit] + reserved[unit] + amount[unit] > cap) return false;
  }
  return true;
}

/** limit - spent - reserved per unit, floored at 0 (spend can overshoot when usage beats the estimate). */
export function remainingOf(limit: Limits, spent: Amount, reserved: Amount): Remaining {
  const left = (cap: number | null, used: number) => (cap === null ? null : Math.max(0, cap - used));
  return {
    nanos: left(limit.usdNanos, spent.nanos + reserved.nanos),
    tokens: left(limit.tokens, spent.tokens + reserved.tokens),
    requests: left(limit.requests, spent.requests + reserved.requests),
  };
}

/**
 * The tightest remaining over the hard policies among `policies`, per unit (null = no hard
 * policy limits that unit). Soft policies never block, so they never bind. A policy without a
 * state in `states` counts as untouched.
 */
export function remainingFor(states: readonly PolicyState[], policies: readonly BudgetPolicy[]): Remaining {
  const byId = new Map(states.map((s) => [s.policyId, s]));
  const tightest: Remaining = { nanos: null, tokens: null, requests: null };
  const untouched: Amount = { nanos: 0, tokens: 0, requests: 0 };
  for (const policy of policies) {
    if (policy.mode !== 'hard') continue;
    const state = byId.get(policy.id);
    const left = remainingOf(policy.limit, state?.spent ?? untouched, state?.reserved ?? untouched);
    tightest.nanos = minOrNull(tightest.nanos, left.nanos);
    tightest.tokens = minOrNull(tightest.tokens, left.tokens);
    tightest.requests = minOrNull(tightest.requests, left.requests);
  }
  return tightest;
}

/**
 * Fraction of the limit used, the most-used unit winning (0 when nothing is limited).
 * With `includeReserved`, in-flight reservations count: that is the exposure a degrade rule
 * should react to, while alerts usually fire on settled spend only.
 */
export function usedFraction(policy: BudgetPolicy, state: PolicyState, includeReserved: boolean): number {
  let fraction = 0;
  for (const { unit, limit: field } of AMOUNT_UNITS) {
    const cap = policy.limit[field];
    if (cap === null) continue;
    const used = state.spent[unit] + (includeReserved ? state.reserved[unit] : 0);
    fraction = Math.max(fraction, cap === 0 ? (used > 0 ? Number.POSITIVE_INFINITY : 0) : used / cap);
  }
  return fraction;
}

export interface ClampInput {
  /** The binding remaining: `remainingFor` over every matched hard policy (not just the first failing one). */
  remaining: Remaining;
  inputTokens: number;
  /** Largest output-token count whose cost, with the input, fits in `budgetNanos` (from pricing). */
  maxAffordableOutputTokens: (budgetNanos: Nanos, inputTokens: number) => number;
  /** The request's own max output; the clamp never raises it. */
  requestedMaxOutputTokens: number;
}

/**
 * The largest max-output-tokens that keeps the call within every remaining budget, or 0 if none
 * does (no request left, or the input alone does not fit). The caller decides whether the
 * result is large enough to be useful and re-reserves at the clamped worst case.
 */
export function clampableOutput(input: ClampInput): number {
  const { remaining, inputTokens } = input;
  if (remaining.requests !== null && remaining.requests < 1) return 0;
  let cap = input.requestedMaxOutputTokens;
  if (remaining.tokens !== null) cap = Math.min(cap, remaining.tokens - inputTokens);
  if (remaining.nanos !== null)
    cap = Math.min(cap, input.maxAffordableOutputTokens(remaining.nanos, inputTokens));
  return Number.isFinite(cap) ? Math.max(0, Math.floor(cap)) : 0;
}

function minOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
