import { AMOUNT_UNITS, addInto, subtractInto, zeroAmount } from '../../budget/amount.ts';
import type { Amount, BudgetPolicy, Limits } from '../../budget/types.ts';
import {
  bucketStart,
  type CalendarWindowSpec,
  currentWindow,
  type RollingWindowSpec,
} from '../../budget/windows.ts';
import { formatUsd } from '../../money.ts';
import type { SpendRow } from './replay.ts';
import type { AuditCheck, CapExceededItem } from './types.ts';
import { iso, plural } from './views.ts';

type Unit = CapExceededItem['unit'];

const UNIT_NAMES: Record<(typeof AMOUNT_UNITS)[number]['unit'], Unit> = {
  nanos: 'usd',
  tokens: 'tokens',
  requests: 'requests',
};

/** The units in which `spent` is over its cap. */
function unitsOver(limit: Limits, spent: Amount): Array<{ unit: Unit; limit: number; spent: number }> {
  const over: Array<{ unit: Unit; limit: number; spent: number }> = [];
  for (const { unit, limit: field } of AMOUNT_UNITS) {
    const cap = limit[field];
    if (cap !== null && spent[unit] > cap)
      over.push({ unit: UNIT_NAMES[unit], limit: cap, spent: spent[unit] });
  }
  return over;
}

function exceeded(
  policy: BudgetPolicy,
  over: { unit: Unit; limit: number; spent: number },
  windowStart: number,
  windowEnd: number,
  at: SpendRow,
): CapExceededItem {
  const show = (n: number) => (over.unit === 'usd' ? formatUsd(n) : n);
  return {
    kind: 'cap_exceeded',
    policyId: policy.id,
    unit: over.unit,
    limit: show(over.limit),
    spent: show(over.spent),
    windowStart: iso(windowStart),
    windowEnd: iso(windowEnd),
    callId: at.row.callId,
    attempt: at.row.attempt,
  };
}

/** Each calendar window overlapping [from, to): its running sum, and the row that first took it over. */
function calendarExceedances(
  policy: BudgetPolicy,
  spec: CalendarWindowSpec,
  rows: readonly SpendRow[],
  fromMs: number,
  toMs: number,
): CapExceededItem[] {
  const items: CapExceededItem[] = [];
  let windowStart = Number.NaN;
  let sum = zeroAmount();
  let reported = new Set<Unit>();
  for (const r of rows) {
    const slot = bucketStart(spec, r.row.tsStart);
    if (slot !== windowStart) {
      windowStart = slot;
      sum = zeroAmount();
      reported = new Set();
    }
    addInto(sum, r.amount);
    const window = currentWindow(spec, r.row.tsStart);
    if (window.endMs <= fromMs || window.startMs >= toMs) continue;
    for (const over of unitsOver(policy.limit, sum)) {
      if (reported.has(over.unit)) continue;
      reported.add(over.unit);
      items.push(exceeded(policy, over, window.startMs, window.endMs, r));
    }
  }
  return items;
}

/**
 * A rolling window checked at every row time t in [from, to), the way the live counters see it:
 * the buckets from the one holding t - size + 1 up to t. Each crossing is reported once, until
 * the window falls back under the cap.
 */
function rollingExceedances(
  policy: BudgetPolicy,
  spec: RollingWindowSpec,
  rows: readonly SpendRow[],
  fromMs: number,
  toMs: number,
): CapExceededItem[] {
  const items: CapExceededItem[] = [];
  const sum = zeroAmount();
  let left = 0;
  let right = 0;
  let over = new Set<Unit>();
  for (const r of rows) {
    const t = r.row.tsStart;
    while (right < rows.length && (rows[right]?.row.tsStart ?? Number.POSITIVE_INFINITY) <= t) {
      const added = rows[right];
      if (added) addInto(sum, added.amount);
      right++;
    }
    const lower = bucketStart(spec, t - spec.sizeMs + 1);
    while (left < right) {
      const oldest = rows[left];
      if (!oldest || bucketStart(spec, oldest.row.tsStart) >= lower) break;
      subtractInto(sum, oldest.amount);
      left++;
    }
    if (t < fromMs || t >= toMs) continue;
    const now = unitsOver(policy.limit, sum);
    for (const o of now) if (!over.has(o.unit)) items.push(exceeded(policy, o, lower, t, r));
    over = new Set(now.map((o) => o.unit));
  }
  return items;
}

/**
 * Check 2: no hard cap was exceeded in any window of [from, to), replayed from the ledger's
 * settled rows (not from the counters, which could be wrong themselves).
 */
export function checkCapsHeld(
  policies: readonly BudgetPolicy[],
  spend: ReadonlyMap<string, readonly SpendRow[]>,
  fromMs: number,
  toMs: number,
): AuditCheck<'caps_held'> {
  const hard = policies.filter((p) => p.mode === 'hard');
  const items: CapExceededItem[] = [];
  for (const policy of hard) {
    const rows = (spend.get(policy.id) ?? []).filter((r) => r.row.tsStart < toMs);
    const spec = policy.window;
    items.push(
      ...(spec.kind === 'calendar'
        ? calendarExceedances(policy, spec, rows, fromMs, toMs)
        : rollingExceedances(policy, spec, rows, fromMs, toMs)),
    );
  }
  const policiesOver = new Set(items.map((i) => i.policyId));
  return {
    name: 'caps_held',
    ok: items.length === 0,
    summary:
      items.length === 0
        ? `${plural(hard.length, 'hard policy', 'hard policies')} replayed from the ledger: no cap exceeded in any window`
        : `${plural(policiesOver.size, 'hard policy', 'hard policies')} exceeded a cap (${plural(items.length, 'window')}): ${[...policiesOver].join(', ')}`,
    items,
  };
}
