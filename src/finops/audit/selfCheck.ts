import type { CallRecord } from '../../ledger/types.ts';
import { formatUsd, type Nanos } from '../../money.ts';
import type { AuditCheck, LayerItem } from './types.ts';
import { plural } from './views.ts';

export interface SelfCheckInput {
  attribution: AuditCheck<'attribution'>;
  caps: AuditCheck<'caps_held'>;
  counters: AuditCheck<'counters_match_ledger'>;
  reservations: AuditCheck<'no_orphaned_reservations'>;
  /** Every row (pending and final) in the audited range. */
  rows: readonly CallRecord[];
  /**
   * Spend by team over the same range, as each allocation path computes it (the FinOps
   * allocation table, the usage API), each expected to add up to the ledger's total.
   */
  allocations: ReadonlyArray<{ source: string; byTeam: ReadonlyArray<{ team: string | null; cost: Nanos }> }>;
}

/** Calls whose attempts are not 1..n without a hole: a row of the middle was lost. */
function attemptGaps(rows: readonly CallRecord[]): string[] {
  const attempts = new Map<string, Set<number>>();
  for (const r of rows) {
    const seen = attempts.get(r.callId) ?? new Set<number>();
    seen.add(r.attempt);
    attempts.set(r.callId, seen);
  }
  const gaps: string[] = [];
  for (const [callId, seen] of attempts) {
    if (Math.max(...seen) !== seen.size) gaps.push(callId);
  }
  return gaps;
}

function logging(input: SelfCheckInput): LayerItem {
  const reasons: string[] = [];
  const expired = input.reservations.items.flatMap((i) => (i.kind === 'expired_lease' ? [i.callId] : []));
  if (expired.length > 0) {
    reasons.push(`${plural(expired.length, 'forwarded call')} never got a final row: ${expired.join(', ')}`);
  }
  const gaps = attemptGaps(input.rows);
  if (gaps.length > 0) reasons.push(`attempt rows missing for ${gaps.join(', ')}`);
  for (const m of input.counters.items) {
    const lost = m.counter.requests - m.ledger.requests;
    if (lost > 0)
      reasons.push(`${m.policyId} counted ${plural(lost, 'settled call')} the ledger has no row for`);
  }
  const calls = new Set(input.rows.map((r) => r.callId)).size;
  return {
    kind: 'layer',
    layer: 'logging',
    ok: reasons.length === 0,
    reason:
      reasons.length === 0
        ? `${plural(calls, 'call')} (${plural(input.rows.length, 'attempt row')}): every forwarded call has its final row`
        : reasons.join('; '),
  };
}

function allocation(input: SelfCheckInput): LayerItem {
  const ledger = input.rows.reduce((sum, r) => (r.status === 'pending' ? sum : sum + r.cost), 0);
  const problems: string[] = [];
  for (const { source, byTeam } of input.allocations) {
    const allocated = byTeam.reduce((sum, t) => sum + t.cost, 0);
    if (allocated !== ledger) {
      problems.push(
        `${source} by team sums to $${formatUsd(allocated)}, not the ledger total $${formatUsd(ledger)}`,
      );
    }
    const unassigned = byTeam.filter((t) => (t.team === null || t.team === '') && t.cost !== 0);
    if (unassigned.length > 0) problems.push(`${source} allocates spend to no team`);
  }
  const teams = new Set(input.allocations.flatMap((a) => a.byTeam.map((t) => t.team)));
  return {
    kind: 'layer',
    layer: 'allocation',
    ok: problems.length === 0,
    reason:
      problems.length === 0
        ? `${input.allocations.map((a) => a.source).join(' and ')} by team (${plural(teams.size, 'team')}) sum to $${formatUsd(ledger)}, the ledger total`
        : problems.join('; '),
  };
}

function enforcement(input: SelfCheckInput): LayerItem {
  const failing = [input.caps, input.counters, input.reservations].filter((c) => !c.ok);
  return {
    kind: 'layer',
    layer: 'enforcement',
    ok: failing.length === 0,
    reason:
      failing.length === 0
        ? 'caps held, counters equal the ledger, no orphaned reservations'
        : failing.map((c) => `${c.name}: ${c.summary}`).join('; '),
  };
}

/** Check 7: the four layers the gateway's guarantees rest on, each pass/fail with its reason. */
export function selfCheck(input: SelfCheckInput): AuditCheck<'self_check'> {
  const items: LayerItem[] = [
    logging(input),
    {
      kind: 'layer',
      layer: 'attribution',
      ok: input.attribution.ok,
      reason: input.attribution.summary,
    },
    allocation(input),
    enforcement(input),
  ];
  const failing = items.filter((i) => !i.ok).map((i) => i.layer);
  return {
    name: 'self_check',
    ok: failing.length === 0,
    summary:
      failing.length === 0
        ? 'logging, attribution, allocation and enforcement all hold'
        : `failing layers: ${failing.join(', ')}`,
    items,
  };
}
