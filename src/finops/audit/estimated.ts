import type { CallRecord } from '../../ledger/types.ts';
import { formatUsd } from '../../money.ts';
import type { AuditCheck, EstimatedUsageItem } from './types.ts';
import { moneyView, plural } from './views.ts';

/** Billed on the gateway's own count rather than the provider's, or flagged by recovery. */
export function isEstimated(row: CallRecord): boolean {
  return row.usageSource === 'estimated' || row.usageSource === 'reserved' || row.flags !== null;
}

/**
 * Check 5: the rows whose cost is not the provider's own usage — estimated (the provider sent
 * no usage), settled at the reserved amount (orphaned), or flagged. Listed for review; they do
 * not fail the audit.
 */
export function listEstimatedUsage(rows: readonly CallRecord[]): AuditCheck<'estimated_usage'> {
  const items: EstimatedUsageItem[] = rows
    .filter((r) => r.status !== 'pending' && isEstimated(r))
    .map((r) => ({
      kind: 'estimated_usage',
      callId: r.callId,
      attempt: r.attempt,
      status: r.status,
      usageSource: r.usageSource,
      flags: r.flags,
      cost: moneyView(r.cost),
    }));
  const total = items.reduce((sum, i) => sum + i.cost.nanos, 0);
  return {
    name: 'estimated_usage',
    ok: true,
    summary:
      items.length === 0
        ? 'every billed row carries provider-reported usage'
        : `${plural(items.length, 'row')} ($${formatUsd(total)}) billed on estimated or reserved usage, or flagged`,
    items,
  };
}
