import type { Amount, BudgetPolicy, PolicyState, ReserveLine, ReserveOutcome } from '../../budget/types.ts';
import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';

/**
 * `BudgetCounters` for a store that answers over the network (cluster mode: Redis). Same
 * contract, results as promises, plus the lease reaper. Every method may reject with
 * `CountersUnavailableError` when the store cannot decide; hard budgets then fail closed.
 */
export interface AsyncBudgetCounters {
  /** All or none over the lines, atomically across every replica sharing the store. */
  reserve(reservationId: string, lines: ReserveLine[], nowMs: number): Promise<ReserveOutcome>;
  /** Books `actual` on every line (in the window of the reservation's time), frees the rest. Idempotent. */
  settle(reservationId: string, actual: Amount): Promise<boolean>;
  /** Frees a reservation without spend. Idempotent; false if already closed. */
  release(reservationId: string): Promise<boolean>;
  /** Adds already-settled spend (ledger replay). */
  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): Promise<void>;
  /** Settled spend and open reservations of the policy's window at `nowMs`. */
  state(policy: BudgetPolicy, nowMs: number): Promise<PolicyState>;
  /** Open reservations (in Redis: of every replica), for leak checks. */
  openReservations(): Promise<number>;
  /**
   * Settles reservations whose lease expired at or before `nowMs` at their reserved amount,
   * each exactly once even when several replicas reap at the same time. Returns what it settled,
   * at most `limit`, so the caller can flag the ledger rows; call again until it returns [].
   */
  reap(nowMs: number, limit?: number): Promise<ReapedReservation[]>;
}

/** A reservation the reaper settled at its reserved amount. */
export interface ReapedReservation {
  reservationId: string;
  /** When it was reserved: the spend is booked in that window. */
  reservedAtMs: number;
  leaseExpiredAtMs: number;
  /** What was booked on each policy (its reserved amount). */
  lines: Array<{ policyId: string; amount: Amount }>;
}

/** `RateLimits` over a shared store: the same decisions, as promises, plus the lease reaper. */
export interface AsyncRateLimits {
  acquire(id: string, rules: RateLimitRule[], tokens: number, nowMs: number): Promise<Acquire>;
  settle(id: string, actualTokens: number, nowMs: number): Promise<boolean>;
  release(id: string): Promise<boolean>;
  cancel(id: string, nowMs: number): Promise<boolean>;
  snapshot(rule: RateLimitRule, nowMs: number): Promise<RuleSnapshot>;
  openCount(): Promise<number>;
  /**
   * Frees the concurrency slots of acquisitions whose lease expired at or before `nowMs` (a
   * replica died holding them), like `release`. Returns their ids. In Redis an expired slot stops
   * counting even before this runs; reaping forgets the handle.
   */
  reap(nowMs: number, limit?: number): Promise<string[]>;
}
