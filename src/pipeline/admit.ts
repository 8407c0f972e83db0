import { usedFraction } from '../budget/plan.ts';
import type { BudgetPolicy } from '../budget/types.ts';
import { type Denial, denial } from '../errors.ts';
import type { Ingress } from '../ingress/types.ts';
import { fail, ok, type Result } from '../result.ts';
import type { Services } from '../server/services.ts';
import type { CallContext, Estimate, Reservation, Target } from './context.ts';
import { estimate } from './estimate.ts';
import { allowedRoutes, resolveTarget, targetFor } from './guard.ts';
import { reserve } from './reserve.ts';

/** A call that holds its budget: where it goes, what it reserved, and how the router got there. */
export interface Admission {
  target: Target;
  estimate: Estimate;
  reservation: Reservation;
  /** degraded, rerouted, queued, clamped — in the order they happened. */
  actions: string[];
  /** The model (degrade) or model@provider (reroute) the call was moved away from. */
  fallbackFrom: string | null;
  queueMs: number | null;
}

export interface AdmitInput {
  svc: Services;
  ingress: Ingress;
  ctx: CallContext;
  target: Target;
  estimate: Estimate;
  reservationId: string;
  /** Stops a queued wait when the client goes away. */
  onClientGone: (abort: () => void) => void;
}

/**
 * The reserve phase with the budget actions of DESIGN.md: degrade to a cheaper model past a
 * policy's threshold (or when the dear model no longer fits), reroute to another provider of
 * the same model, wait in the budget queue, or deny with the binding policy.
 */
export async function admit(input: AdmitInput): Promise<Result<Admission>> {
  const { svc, ctx } = input;
  const actions: string[] = [];
  let fallbackFrom: string | null = null;
  let target = input.target;
  let est = input.estimate;

  const degradeTo = await degradeTarget(svc, ctx, target);
  if (degradeTo) {
    const degraded = degradedTarget(input, degradeTo);
    if (degraded) {
      fallbackFrom = target.model.id;
      target = degraded.target;
      est = degraded.estimate;
      actions.push('degraded');
    }
  }

  const first = await tryReserve(input, target, est);
  if (first.ok) return ok(done(first.value, target, est, actions, fallbackFrom, null));
  const binding = first.error.policyId ? svc.budgets.get(first.error.policyId) : undefined;

  // The dear model no longer fits: a policy that names a cheaper one degrades instead of denying.
  if (binding?.degrade && !actions.includes('degraded')) {
    const degraded = degradedTarget(input, binding.degrade.to);
    if (degraded) {
      const r = await tryReserve(input, degraded.target, degraded.estimate);
      if (r.ok) {
        return ok(
          done(r.value, degraded.target, degraded.estimate, [...actions, 'degraded'], target.model.id, null),
        );
      }
    }
  }

  if (binding?.onExhausted === 'reroute') {
    for (const route of allowedRoutes(svc.config, ctx.key, target.model.id)) {
      if (route.provider === target.provider.id) continue;
      const alt = targetFor(svc.config, svc.prices, route);
      if (!alt.ok) continue;
      const altEst = estimate(input.ingress, ctx.body, alt.value);
      const r = await tryReserve(input, alt.value, altEst);
      if (r.ok) {
        const from = fallbackFrom ?? `${target.model.id}@${target.provider.id}`;
        return ok(done(r.value, alt.value, altEst, [...actions, 'rerouted'], from, null));
      }
    }
  }

  if (binding?.onExhausted === 'queue') {
    const startedWaiting = svc.clock();
    let admitted: Reservation | null = null;
    const outcome = await svc.queue.wait(
      ctx.key.id,
      async () => {
        const r = await tryReserve(input, target, est);
        if (r.ok) admitted = r.value;
        return r.ok;
      },
      input.onClientGone,
    );
    const waited = svc.clock() - startedWaiting;
    if (outcome === 'admitted' && admitted) {
      return ok(done(admitted, target, est, [...actions, 'queued'], fallbackFrom, waited));
    }
    return fail(queueDenial(outcome, first.error, waited, svc.config.raw.routing.queue.max_wait_ms));
  }
  return fail(first.error);
}

function done(
  reservation: Reservation,
  target: Target,
  est: Estimate,
  actions: string[],
  fallbackFrom: string | null,
  queueMs: number | null,
): Admission {
  const all = reservation.clampedTo !== null ? [...actions, 'clamped'] : actions;
  return { target, estimate: est, reservation, actions: all, fallbackFrom, queueMs };
}

function tryReserve(input: AdmitInput, target: Target, est: Estimate): Promise<Result<Reservation>> {
  const { svc, ctx, ingress } = input;
  return reserve(svc.budgets, {
    reservationId: input.reservationId,
    identity: { ...ctx.identity, model: target.model.id, provider: target.provider.id },
    target,
    estimate: est,
    nowMs: svc.clock(),
    minClampedOutput: svc.config.raw.min_clamped_output_tokens,
    clampTo: (tokens) => ingress.setMaxOutput(ctx.body, tokens),
  });
}

/**
 * The cheaper model named by the first matching policy whose use (spent + in flight) has reached
 * its degrade threshold. Checked against the policies of the requested model, before reserving.
 */
async function degradeTarget(svc: Services, ctx: CallContext, target: Target): Promise<string | null> {
  const policies: BudgetPolicy[] = svc.budgets.match({
    ...ctx.identity,
    model: target.model.id,
    provider: target.provider.id,
  });
  const now = svc.clock();
  for (const p of policies) {
    if (!p.degrade || p.degrade.to === target.model.id) continue;
    if (usedFraction(p, await svc.budgets.state(p, now), true) >= p.degrade.at) return p.degrade.to;
  }
  return null;
}

function degradedTarget(input: AdmitInput, modelId: string): { target: Target; estimate: Estimate } | null {
  const { svc, ctx, ingress } = input;
  const t = resolveTarget(svc.config, svc.prices, ctx.key, modelId, ctx.body, ingress.outputFields, {
    chosenByGateway: true,
  });
  if (!t.ok) return null;
  return { target: t.value, estimate: estimate(ingress, ctx.body, t.value) };
}

function queueDenial(outcome: string, budget: Denial, waitedMs: number, maxWaitMs: number): Denial {
  const headers: Record<string, string> = {
    ...(budget.headers ?? {}),
    'x-tollgate-queue-wait-ms': String(waitedMs),
  };
  if (outcome === 'full') {
    return denial('budget_queue_full', `The budget queue is full; ${budget.message} Retry later.`, {
      headers: { ...headers, 'retry-after': headers['retry-after'] ?? '1' },
      policyId: budget.policyId,
    });
  }
  return denial(
    'budget_queue_timeout',
    `Waited ${waitedMs} ms (limit ${maxWaitMs} ms) in the budget queue and no budget freed up. ${budget.message}`,
    { headers, policyId: budget.policyId },
  );
}
