import type { CallIdentity } from '../identity/types.ts';
import { compilePolicies, type PolicyIndex } from './matcher.ts';
import type { Amount, AsyncBudgetCounters, BudgetPolicy, PolicyState, ReserveOutcome } from './types.ts';

/**
 * The budgets in force: an immutable compiled index (swapped whole when policies change)
 * over one counter store — in process (embedded) or shared by replicas (Redis). Pure: no I/O
 * of its own, the caller persists policy changes.
 */
export class BudgetService {
  private index: PolicyIndex;

  constructor(
    readonly counters: AsyncBudgetCounters,
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

  reserve(
    reservationId: string,
    policies: BudgetPolicy[],
    amount: Amount,
    nowMs: number,
  ): Promise<ReserveOutcome> {
    return this.counters.reserve(
      reservationId,
      policies.map((policy) => ({ policy, amount })),
      nowMs,
    );
  }

  state(policy: BudgetPolicy, nowMs: number): Promise<PolicyState> {
    return this.counters.state(policy, nowMs);
  }
}
