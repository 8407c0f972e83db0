import { clampableOutput, fitsWithin, remainingFor } from '../budget/plan.ts';
import type { BudgetService } from '../budget/service.ts';
import type { Amount, BudgetPolicy, ReserveOutcome } from '../budget/types.ts';
import { denial } from '../errors.ts';
import type { CallIdentity } from '../identity/types.ts';
import { formatUsd } from '../money.ts';
import { maxAffordableOutputTokens, worstCaseNanos } from '../pricing/cost.ts';
import { fail, ok, type Result } from '../result.ts';
import type { Estimate, Reservation, Target } from './context.ts';

export interface ReserveInput {
  reservationId: string;
  identity: CallIdentity;
  target: Target;
  estimate: Estimate;
  nowMs: number;
  minClampedOutput: number;
  /** Called with the new cap when the call is clamped; the caller rewrites the request. */
  clampTo: (maxOutputTokens: number) => void;
}

function amountFor(est: Estimate, target: Target, maxOutput: number): Amount {
  return {
    nanos:
      maxOutput === est.maxOutputTokens
        ? est.worstNanos
        : worstCaseNanos(est.inputTokens, maxOutput, target.prices),
    tokens: est.inputTokens + maxOutput,
    requests: 1,
  };
}

/**
 * Reserves the worst case on every matching policy, all or none. If it does not fit and
 * every binding policy allows clamping, the output cap is lowered to what all of them can
 * still afford, so the call cannot exceed what remains.
 */
export async function reserve(budgets: BudgetService, input: ReserveInput): Promise<Result<Reservation>> {
  const { identity, target, estimate: est, nowMs } = input;
  const policies = budgets.match(identity);
  const amount = amountFor(est, target, est.maxOutputTokens);
  const first = await budgets.reserve(input.reservationId, policies, amount, nowMs);
  if (first.ok) return ok({ id: input.reservationId, policies, amount, clampedTo: null });

  const cap = await clampableOutputFor(budgets, policies, est, target, nowMs);
  if (cap >= input.minClampedOutput && cap < est.maxOutputTokens) {
    const clamped = amountFor(est, target, cap);
    const second = await budgets.reserve(input.reservationId, policies, clamped, nowMs);
    if (second.ok) {
      input.clampTo(cap);
      return ok({ id: input.reservationId, policies, amount: clamped, clampedTo: cap });
    }
    return fail(budgetDenial(budgets, second, nowMs));
  }
  return fail(budgetDenial(budgets, first, nowMs));
}

/**
 * Largest output cap every hard policy can afford now. A hard policy that cannot fit the full
 * call and does not allow clamping makes it 0 (deny).
 */
async function clampableOutputFor(
  budgets: BudgetService,
  policies: BudgetPolicy[],
  est: Estimate,
  target: Target,
  nowMs: number,
): Promise<number> {
  const full = amountFor(est, target, est.maxOutputTokens);
  const hard = policies.filter((p) => p.mode === 'hard');
  const states = await Promise.all(hard.map((p) => budgets.state(p, nowMs)));
  for (let i = 0; i < hard.length; i++) {
    const policy = hard[i];
    const state = states[i];
    if (policy && state && !policy.clamp && !fitsWithin(policy.limit, state.spent, state.reserved, full))
      return 0;
  }
  return clampableOutput({
    remaining: remainingFor(states, hard),
    inputTokens: est.inputTokens,
    maxAffordableOutputTokens: (nanos, input) => maxAffordableOutputTokens(nanos, input, target.prices),
    requestedMaxOutputTokens: est.maxOutputTokens,
  });
}

function budgetDenial(budgets: BudgetService, outcome: Exclude<ReserveOutcome, { ok: true }>, nowMs: number) {
  const policy = budgets.get(outcome.policyId);
  const headers: Record<string, string> = { 'x-budget-exceeded': outcome.policyId };
  if (outcome.resetsAtMs !== null) {
    headers['retry-after'] = String(Math.max(1, Math.ceil((outcome.resetsAtMs - nowMs) / 1000)));
    headers['x-budget-reset'] = new Date(outcome.resetsAtMs).toISOString();
  }
  const parts: string[] = [];
  if (outcome.remaining.nanos !== null) parts.push(`$${formatUsd(outcome.remaining.nanos)} left`);
  if (outcome.remaining.tokens !== null) parts.push(`${outcome.remaining.tokens} tokens left`);
  if (outcome.remaining.requests !== null) parts.push(`${outcome.remaining.requests} requests left`);
  const window = policy ? ` (${describeWindow(policy)})` : '';
  return denial(
    'budget_exceeded',
    `Budget '${outcome.policyId}'${window} cannot cover this call's worst case: ${parts.join(', ') || 'exhausted'}` +
      (outcome.resetsAtMs !== null ? `; it frees up at ${new Date(outcome.resetsAtMs).toISOString()}.` : '.'),
    { headers, policyId: outcome.policyId },
  );
}

function describeWindow(p: BudgetPolicy): string {
  return p.window.kind === 'calendar'
    ? `per ${p.window.every}, ${p.window.tz}`
    : `rolling ${p.window.sizeMs / 1000}s`;
}
