import { isExhausted } from '../alerts/thresholds.ts';
import type { BudgetPolicy } from '../budget/types.ts';
import type { Denial } from '../errors.ts';
import { worstCaseNanos } from '../pricing/cost.ts';
import type { Trip } from '../runaway/types.ts';
import type { Services } from '../server/services.ts';
import type { CallContext, Estimate, Reservation, Target } from './context.ts';

/**
 * After a reservation closes: freed budget may admit queued calls, the spend may cross an alert
 * threshold, and the key's spend velocity moves. Threshold checks are batched per event-loop
 * turn so a burst of settlements costs one check per policy, off the response's path.
 */
export function noteSettled(svc: Services, ctx: CallContext, reservation: Reservation, cost: number): void {
  svc.queue.notify();
  for (const p of reservation.policies) if (p.alerts.length > 0) dirty(svc).add(p);
  try {
    const trip = svc.runaway.observeSpend(ctx.key.id, ctx.identity.feature, cost, svc.clock());
    if (trip) noteTrip(svc, trip, ctx);
  } catch (err) {
    svc.log.warn({ err, callId: ctx.callId }, 'runaway detector failed');
  }
}

/** A hard budget that refused a call because it is exhausted counts as reaching 100%. */
export async function noteBudgetDenial(
  svc: Services,
  d: Denial,
  target: Target,
  est: Estimate,
): Promise<void> {
  if (!d.policyId) return;
  const policy = svc.budgets.get(d.policyId);
  if (!policy || policy.alerts.length === 0) return;
  const state = await svc.budgets.state(policy, svc.clock());
  const out = Math.min(est.maxOutputTokens, svc.config.raw.min_clamped_output_tokens);
  const smallest = {
    nanos: worstCaseNanos(est.inputTokens, out, target.prices),
    tokens: est.inputTokens + out,
    requests: 1,
  };
  if (isExhausted(policy, state.spent, smallest))
    svc.alerts.observe(policy, state.spent, state.window, 'denied');
}

export function noteTrip(svc: Services, trip: Trip, ctx: CallContext): void {
  svc.log.warn(
    { keyId: trip.keyId, kind: trip.kind, action: trip.action, reason: trip.reason },
    'runaway detected',
  );
  const id = ctx.identity;
  try {
    svc.alerts.notifyRunaway(trip, { org: id.org, team: id.team, project: id.project, env: id.env });
  } catch (err) {
    svc.log.warn({ err, keyId: trip.keyId }, 'runaway alert not sent');
  }
}

const pending = new WeakMap<Services, Set<BudgetPolicy>>();

function dirty(svc: Services): Set<BudgetPolicy> {
  let set = pending.get(svc);
  if (!set) {
    set = new Set();
    pending.set(svc, set);
  }
  if (set.size === 0) {
    const batch = set;
    setImmediate(() => {
      const now = svc.clock();
      const policies = [...batch];
      batch.clear();
      void Promise.all(
        policies.map(async (p) => {
          const state = await svc.budgets.state(p, now);
          svc.alerts.observe(p, state.spent, state.window, 'spend');
        }),
      ).catch((err: unknown) => svc.log.warn({ err }, 'alert check failed'));
    });
  }
  return set;
}
