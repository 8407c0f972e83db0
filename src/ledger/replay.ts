import { compilePolicies } from '../budget/matcher.ts';
import type { Amount, AsyncBudgetCounters, BudgetPolicy } from '../budget/types.ts';
import { bucketStart, currentWindow } from '../budget/windows.ts';
import type { CallIdentity } from '../identity/types.ts';
import type { LedgerStore } from '../store/interface.ts';
import type { CallRecord } from './types.ts';

/** The identity a ledger row was billed under, to match it to budget policies again. */
export function identityOfRow(r: CallRecord): CallIdentity {
  return {
    keyId: r.keyId,
    org: r.org,
    team: r.team,
    project: r.project,
    env: r.env,
    costCenter: r.costCenter,
    user: r.user,
    feature: r.feature,
    model: r.modelUsed,
    provider: r.provider,
  };
}

/** Tokens and requests a settled row counts for, the same rule `settle` applies live. */
export function settledAmountOf(r: CallRecord) {
  if (r.status === 'denied' || r.usageSource === 'none') return { nanos: r.cost, tokens: 0, requests: 0 };
  const tokens =
    r.usageSource === 'reserved'
      ? r.reservedTokens
      : r.inputTokens + r.outputTokens + r.cacheReadTokens + r.cacheWriteTokens;
  return { nanos: r.cost, tokens, requests: 1 };
}

const YIELD_EVERY_ROWS = 2_000;

/**
 * Books the spend the ledger already holds for a policy's current window, from calls that
 * started before `beforeMs`. A budget created (or given a new window) mid-window then starts
 * where the ledger is — as it would after a restart, which replays the ledger — instead of at
 * zero, so a cap set on the 20th counts the month so far. Calls from `beforeMs` on may already
 * have been counted live by the new policy, so they are left out. Amounts are summed per
 * bucket of the window: one counter write per bucket, not per row.
 */
export async function backfillPolicy(
  ledger: Pick<LedgerStore, 'iterateSettledSince'>,
  counters: Pick<AsyncBudgetCounters, 'addSpent'>,
  policy: BudgetPolicy,
  beforeMs: number,
): Promise<{ rows: number; nanos: number }> {
  const index = compilePolicies([policy]);
  const buckets = new Map<number, Amount>();
  let rows = 0;
  let seen = 0;
  for await (const row of ledger.iterateSettledSince(currentWindow(policy.window, beforeMs).startMs)) {
    // A month of ledger is many rows: let the gateway serve calls meanwhile.
    if (++seen % YIELD_EVERY_ROWS === 0) await new Promise((resolve) => setImmediate(resolve));
    if (row.tsStart >= beforeMs || index.match(identityOfRow(row)).length === 0) continue;
    const amount = settledAmountOf(row);
    if (amount.nanos === 0 && amount.tokens === 0 && amount.requests === 0) continue;
    const at = bucketStart(policy.window, row.tsStart);
    const sum = buckets.get(at) ?? { nanos: 0, tokens: 0, requests: 0 };
    buckets.set(at, {
      nanos: sum.nanos + amount.nanos,
      tokens: sum.tokens + amount.tokens,
      requests: sum.requests + amount.requests,
    });
    rows++;
  }
  let nanos = 0;
  for (const [at, amount] of buckets) {
    await counters.addSpent(policy, amount, at);
    nanos += amount.nanos;
  }
  return { rows, nanos };
}
