import { AMOUNT_UNITS } from '../../budget/amount.ts';
import type { Amount, BudgetPolicy, PolicyState, WindowSpec } from '../../budget/types.ts';
import { bucketStart } from '../../budget/windows.ts';
import type { CallRecord } from '../../ledger/types.ts';
import type { SpendRow } from './replay.ts';
import { sumAmounts } from './replay.ts';
import type { AuditCheck, CounterMismatchItem } from './types.ts';
import { amountView, iso, plural } from './views.ts';

type Placement = 'in' | 'out' | 'edge';

/**
 * Where a settled row's spend sits relative to the window the counters report at `nowMs`.
 * Live spend is booked in the slot of the reservation's time, which the row does not keep but
 * which lies between its ts_start and ts_end (a retry's reservation comes seconds after the
 * call's start): a row whose span crosses the window's edge may be on either side ('edge').
 */
function placement(spec: WindowSpec, state: PolicyState, row: CallRecord, nowMs: number): Placement {
  const first = row.tsStart;
  const last = Math.max(row.tsEnd ?? first, first);
  if (spec.kind === 'calendar') {
    const inside = (t: number) => t >= state.window.startMs && t < state.window.endMs;
    if (inside(first) && inside(last)) return 'in';
    return inside(first) || inside(last) || (first < state.window.startMs && last >= state.window.endMs)
      ? 'edge'
      : 'out';
  }
  // Rolling counters keep whole buckets: a bucket counts once its start is inside the window.
  if (first > nowMs) return 'out';
  const start = state.window.startMs;
  if (bucketStart(spec, first) >= start) return 'in';
  return bucketStart(spec, last) >= start ? 'edge' : 'out';
}

function within(counter: Amount, sure: Amount, edge: Amount): boolean {
  return AMOUNT_UNITS.every(
    ({ unit }) => counter[unit] >= sure[unit] && counter[unit] <= sure[unit] + edge[unit],
  );
}

/**
 * Check 3: the live in-memory counters equal the ledger's sums for each policy's current
 * window, in every unit, exactly — up to the rows admitted across the window's edge, which may
 * be counted on either side. A deleted ledger row or an inflated counter breaks this.
 */
export function checkCountersMatchLedger(
  policies: readonly BudgetPolicy[],
  spend: ReadonlyMap<string, readonly SpendRow[]>,
  stateOf: (policy: BudgetPolicy) => PolicyState,
  nowMs: number,
): AuditCheck<'counters_match_ledger'> {
  const items: CounterMismatchItem[] = [];
  for (const policy of policies) {
    const state = stateOf(policy);
    const sure: SpendRow[] = [];
    const edge: SpendRow[] = [];
    for (const r of spend.get(policy.id) ?? []) {
      const where = placement(policy.window, state, r.row, nowMs);
      if (where === 'in') sure.push(r);
      else if (where === 'edge') edge.push(r);
    }
    const counter = state.spent;
    if (within(counter, sumAmounts(sure), sumAmounts(edge))) continue;
    // Shown as startup replay would count it: every row by its ts_start.
    const ledger = sumAmounts([
      ...sure,
      ...edge.filter(
        (r) => placement(policy.window, state, { ...r.row, tsEnd: r.row.tsStart }, nowMs) === 'in',
      ),
    ]);
    items.push({
      kind: 'counter_mismatch',
      policyId: policy.id,
      windowStart: iso(state.window.startMs),
      windowEnd: iso(state.window.endMs),
      counter: amountView(counter),
      ledger: amountView(ledger),
    });
  }
  return {
    name: 'counters_match_ledger',
    ok: items.length === 0,
    summary:
      items.length === 0
        ? `${plural(policies.length, 'policy', 'policies')}: counters equal the ledger's sums for the current window`
        : `counters differ from the ledger for ${items.map((i) => i.policyId).join(', ')}`,
    items,
  };
}
