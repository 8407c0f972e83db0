import type { CallIdentity } from '../identity/types.ts';
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
