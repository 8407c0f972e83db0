import { addInto, isZeroAmount, zeroAmount } from '../../budget/amount.ts';
import { compilePolicies } from '../../budget/matcher.ts';
import type { Amount, BudgetPolicy } from '../../budget/types.ts';
import { identityOfRow, settledAmountOf } from '../../ledger/replay.ts';
import type { CallRecord } from '../../ledger/types.ts';

/** A settled row and what it counts for against a budget — the rule startup replay applies. */
export interface SpendRow {
  row: CallRecord;
  amount: Amount;
}

/**
 * Settled rows that count against each policy, oldest first, matched with the same compiled
 * selector index the gateway uses live. Pending rows and rows that count for nothing are left out.
 */
export function spendByPolicy(
  policies: readonly BudgetPolicy[],
  rows: readonly CallRecord[],
): Map<string, SpendRow[]> {
  const index = compilePolicies(policies);
  const out = new Map<string, SpendRow[]>(policies.map((p) => [p.id, []]));
  const sorted = [...rows].sort((a, b) => a.tsStart - b.tsStart);
  for (const row of sorted) {
    if (row.status === 'pending') continue;
    const amount = settledAmountOf(row);
    if (isZeroAmount(amount)) continue;
    for (const policy of index.match(identityOfRow(row))) out.get(policy.id)?.push({ row, amount });
  }
  return out;
}

export function sumAmounts(rows: Iterable<SpendRow>): Amount {
  const total = zeroAmount();
  for (const r of rows) addInto(total, r.amount);
  return total;
}
