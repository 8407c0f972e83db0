export type { AsyncBudgetCounters, ReapedReservation } from '../../budget/types.ts';

import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';

export interface AcquireOptions {
  /**
   * The call's hard budgets all fail open (`on_store_down: open`): if the shared store cannot
   * answer, limit it on this replica alone instead of refusing it (FailOpenRateLimits).
   */
  failOpen?: () => boolean;
}

/** `RateLimits` over a shared store: the same decisions, as promises, plus the lease reaper. */
export interface AsyncRateLimits {
  acquire(
    id: string,
    rules: RateLimitRule[],
    tokens: number,
    nowMs: number,
    options?: AcquireOptions,
  ): Promise<Acquire>;
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
  /**
   * Moves the lease of each still-open handle (and of its concurrency slots) to `leaseExpiresAtMs`,
   * never earlier than it already is. A closed or reaped handle stays closed, and a slot another
   * acquisition already dropped as expired is not brought back. Returns how many were still open.
   */
  renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number>;
}
