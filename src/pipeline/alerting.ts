import { performance } from 'node:perf_hooks';
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
 * turn (spaced further on shared counters) so a burst of settlements costs one check per policy,
 * off the response's path.
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

/**
 * Shared counters (cluster mode): a threshold check is a Redis script that sums the policy's whole
 * window (60 slots for a rolling hour of minutes), about as costly as the reserve itself. Checks
 * are then spaced by this much per replica: an alert may come this much later, never not at all
 * (the check after the last settlement always runs), and still once for the cluster.
 */
export const SHARED_CHECK_EVERY_MS = 250;

interface Checks {
  dirty: Set<BudgetPolicy>;
  scheduled: boolean;
  /** When the last batch of checks started (performance.now()). */
  lastRunAt: number;
}

const checks = new WeakMap<Services, Checks>();

function dirty(svc: Services): Set<BudgetPolicy> {
  let state = checks.get(svc);
  if (!state) {
    state = { dirty: new Set(), scheduled: false, lastRunAt: Number.NEGATIVE_INFINITY };
    checks.set(svc, state);
  }
  if (!state.scheduled) scheduleChecks(svc, state);
  return state.dirty;
}

function scheduleChecks(svc: Services, state: Checks): void {
  state.scheduled = true;
  const spacing = svc.config.raw.storage.redis ? SHARED_CHECK_EVERY_MS : 0;
  const wait = state.lastRunAt + spacing - performance.now();
  const run = () => runChecks(svc, state);
  if (wait <= 0) setImmediate(run);
  else setTimeout(run, wait);
}

function runChecks(svc: Services, state: Checks): void {
  state.scheduled = false;
  state.lastRunAt = performance.now();
  const now = svc.clock();
  const policies = [...state.dirty];
  state.dirty.clear();
  void Promise.all(
    policies.map(async (p) => {
      const st = await svc.budgets.state(p, now);
      svc.alerts.observe(p, st.spent, st.window, 'spend');
    }),
  ).catch((err: unknown) => svc.log.warn({ err }, 'alert check failed'));
}
