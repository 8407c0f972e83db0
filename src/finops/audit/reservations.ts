import type { CallRecord } from '../../ledger/types.ts';
import type { AuditCheck, ReservationItem } from './types.ts';
import { distinct, iso, moneyView, plural } from './views.ts';

/**
 * Check 4: no reservation is forgotten. No `pending` row has outlived its lease (a pending row
 * with no lease at all counts as expired), and the counters hold exactly as many open
 * reservations as the ledger has pending rows. Run it on a quiet gateway: a call between its
 * reservation and its pending row's commit is counted on one side only.
 */
export function checkReservations(
  pending: readonly CallRecord[],
  openReservations: number,
  nowMs: number,
): AuditCheck<'no_orphaned_reservations'> {
  const items: ReservationItem[] = [];
  for (const row of pending) {
    if (row.leaseUntil !== null && row.leaseUntil >= nowMs) continue;
    items.push({
      kind: 'expired_lease',
      callId: row.callId,
      attempt: row.attempt,
      leaseUntil: row.leaseUntil === null ? null : iso(row.leaseUntil),
      reserved: moneyView(row.reserved),
    });
  }
  const expired = items.length;
  if (openReservations !== pending.length) {
    items.push({
      kind: 'open_reservations_mismatch',
      openReservations,
      pendingRows: pending.length,
      pendingCallIds: distinct(pending.map((r) => r.callId)),
    });
  }
  const problems: string[] = [];
  if (expired > 0) problems.push(`${plural(expired, 'pending row')} past its lease`);
  if (openReservations !== pending.length) {
    problems.push(
      `${plural(openReservations, 'open reservation')} in the counters but ${plural(pending.length, 'pending row')} in the ledger`,
    );
  }
  return {
    name: 'no_orphaned_reservations',
    ok: items.length === 0,
    summary:
      problems.length === 0
        ? `${plural(pending.length, 'pending row')}, all within their lease; open reservations match`
        : problems.join('; '),
    items,
  };
}
