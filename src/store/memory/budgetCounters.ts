import { addInto, assertValidAmount, copyAmount, subtractInto } from '../../budget/amount.ts';
import { fitsWithin, remainingOf } from '../../budget/plan.ts';
import type {
  Amount,
  BudgetCounters,
  BudgetPolicy,
  PolicyState,
  ReserveLine,
  ReserveOutcome,
} from '../../budget/types.ts';
import { windowFingerprint } from '../../budget/windows.ts';
import { createWindowedSpend, type WindowedSpend } from './windowedSpend.ts';

/** One policy's share of an open reservation. */
interface HeldLine {
  spend: WindowedSpend;
  /** Slot of the reservation's time: settled spend lands here, as a ledger replay by ts_start would. */
  slot: number;
  amount: Amount;
}

interface OpenReservation {
  atMs: number;
  lines: HeldLine[];
}

/**
 * Embedded-mode budget counters. Every method is synchronous: with no `await` between reading
 * a counter and writing it, the single JS thread makes each reservation atomic across all of
 * its policies without locks. Durability is the ledger's job; `addSpent` rebuilds from it.
 */
export class MemoryBudgetCounters implements BudgetCounters {
  /** Keyed by policy id + window fingerprint, so a changed window starts fresh. */
  private readonly spendByKey = new Map<string, WindowedSpend>();
  /** Fast path for the policy objects of the live index; falls back to `spendByKey`. */
  private readonly spendByPolicy = new WeakMap<BudgetPolicy, WindowedSpend>();
  private readonly open = new Map<string, OpenReservation>();

  reserve(reservationId: string, lines: ReserveLine[], nowMs: number): ReserveOutcome {
    if (this.open.has(reservationId)) throw new Error(`reservation id already open: ${reservationId}`);
    const held = this.resolve(lines);
    // Check every hard line before touching anything: all or none.
    for (const { policy, spend, amount } of held) {
      if (policy.mode !== 'hard') continue;
      const spent = spend.spent(nowMs);
      if (!fitsWithin(policy.limit, spent, spend.reserved, amount)) {
        return {
          ok: false,
          policyId: policy.id,
          remaining: remainingOf(policy.limit, spent, spend.reserved),
          resetsAtMs: spend.window(nowMs).resetsAtMs,
        };
      }
    }
    const record: OpenReservation = { atMs: nowMs, lines: [] };
    for (const { spend, amount } of held) {
      addInto(spend.reserved, amount);
      record.lines.push({ spend, slot: spend.slotAt(nowMs), amount });
    }
    this.open.set(reservationId, record);
    return { ok: true, reservationId };
  }

  settle(reservationId: string, actual: Amount): boolean {
    assertValidAmount(actual, 'settled amount');
    const record = this.take(reservationId);
    if (!record) return false;
    // Booked in full even above the reservation: usage beyond the estimate is still spend.
    for (const line of record.lines) line.spend.book(line.slot, actual);
    return true;
  }

  release(reservationId: string): boolean {
    return this.take(reservationId) !== null;
  }

  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): void {
    assertValidAmount(amount, `spend for ${policy.id}`);
    const spend = this.spendFor(policy);
    spend.book(spend.slotAt(atMs), amount);
  }

  state(policy: BudgetPolicy, nowMs: number): PolicyState {
    const spend = this.spendFor(policy);
    return {
      policyId: policy.id,
      window: spend.window(nowMs),
      spent: spend.spent(nowMs),
      reserved: copyAmount(spend.reserved),
    };
  }

  openReservations(): number {
    return this.open.size;
  }

  /**
   * Ids of reservations opened before `cutoffMs`. Every path settles or releases in a
   * `finally`, so anything here past its lease is a leak: settle it at its reserved amount.
   */
  reservationsOpenedBefore(cutoffMs: number): string[] {
    const ids: string[] = [];
    for (const [id, record] of this.open) if (record.atMs < cutoffMs) ids.push(id);
    return ids;
  }

  /** Removes an open reservation and gives back what it held; null if it is not open. */
  private take(reservationId: string): OpenReservation | null {
    const record = this.open.get(reservationId);
    if (!record) return null;
    this.open.delete(reservationId);
    for (const line of record.lines) subtractInto(line.spend.reserved, line.amount);
    return record;
  }

  /**
   * Validates the lines and merges any that name the same policy, so a policy listed twice is
   * checked against the sum rather than twice against the same headroom.
   */
  private resolve(
    lines: ReserveLine[],
  ): Array<{ policy: BudgetPolicy; spend: WindowedSpend; amount: Amount }> {
    const held: Array<{ policy: BudgetPolicy; spend: WindowedSpend; amount: Amount }> = [];
    for (const { policy, amount } of lines) {
      assertValidAmount(amount, `reservation for ${policy.id}`);
      const spend = this.spendFor(policy);
      const same = held.find((h) => h.spend === spend);
      if (same) addInto(same.amount, amount);
      else held.push({ policy, spend, amount: copyAmount(amount) });
    }
    return held;
  }

  private spendFor(policy: BudgetPolicy): WindowedSpend {
    const known = this.spendByPolicy.get(policy);
    if (known) return known;
    const key = `${policy.id}\u0000${windowFingerprint(policy.window)}`;
    let spend = this.spendByKey.get(key);
    if (!spend) {
      spend = createWindowedSpend(policy.window);
      this.spendByKey.set(key, spend);
    }
    this.spendByPolicy.set(policy, spend);
    return spend;
  }
}
