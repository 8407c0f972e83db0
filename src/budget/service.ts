import type { CallIdentity } from '../identity/types.ts';
import { compilePolicies, type PolicyIndex } from './matcher.ts';
import type { Amount, BudgetCounters, BudgetPolicy, PolicyState, ReserveOutcome } from './types.ts';

/**
 * The budgets in force: an immutable compiled index (swapped whole when policies change)
 * over one counter store. Pure: no I/O, the caller persists policy changes.
 */
export class BudgetService {
  private index: PolicyIndex;

  constructor(
    readonly counters: BudgetCounters,
    policies: BudgetPolicy[],
  ) {
    this.index = compilePolicies(policies);
  }

  replacePolicies(policies: BudgetPolicy[]): void {
    this.index = compilePolicies(policies);
  }

  policies(): BudgetPolicy[] {
    return this.index.all();
  }

  get(id: string): BudgetPolicy | undefined {
    return this.index.get(id);
  }

  match(call: CallIdentity): BudgetPolicy[] {
    return this.index.match(call);
  }

  reserve(reservationId: string, policies: BudgetPolicy[], amount: Amount, nowMs: number): ReserveOutcome {
    return this.counters.reserve(
      reservationId,
      policies.map((policy) => ({ policy, amount })),
      nowMs,
    );
  }

  state(policy: BudgetPolicy, nowMs: number): PolicyState {
    return this.counters.state(policy, nowMs);
  }
}
