import { countTextTokens } from '../estimate/tokens.ts';
import type { CallRecord, UsageSource } from '../ledger/types.ts';
import { costNanos } from '../pricing/cost.ts';
import type { Usage } from '../pricing/types.ts';
import type { DeferredCloses } from '../store/redis/deferredCloses.ts';
import type { Estimate, Reservation, Target } from './context.ts';
import type { UpstreamOutcome } from './upstream.ts';

export interface Settlement {
  usage: Usage;
  usageSource: UsageSource;
  cost: number;
}

/**
 * What a call really cost. Provider usage when it sent some; otherwise counted tokens
 * (estimated input + the output actually generated) — never $0 for a call the provider ran.
 * Only an upstream failure that produced nothing costs nothing.
 */
export function measure(outcome: UpstreamOutcome, est: Estimate, target: Target): Settlement {
  const provided = outcome.kind === 'failed' ? null : outcome.usage;
  if (provided) return { usage: provided, usageSource: 'provider', cost: costNanos(provided, target.prices) };
  const generated = outcome.generatedText.length > 0 ? countTextTokens(outcome.generatedText) : 0;
  if (outcome.kind === 'failed' && generated === 0) {
    return noSettlement();
  }
  const usage: Usage = { ...emptyUsage(), inputTokens: est.inputTokens, outputTokens: generated };
  return { usage, usageSource: 'estimated', cost: costNanos(usage, target.prices) };
}

/**
 * Closes the reservation exactly once: spend booked at the actual cost, the rest freed. Through
 * `DeferredCloses`, so a counter store that blinks at this moment gets the close later.
 */
export async function settle(closes: DeferredCloses, reservation: Reservation, s: Settlement): Promise<void> {
  if (s.usageSource === 'none') {
    await closes.release(reservation.id);
    return;
  }
  const u = s.usage;
  await closes.settle(reservation.id, {
    nanos: s.cost,
    tokens: settledTokens(u),
    requests: 1,
  });
}

export function applySettlement(row: CallRecord, s: Settlement): void {
  row.inputTokens = s.usage.inputTokens;
  row.outputTokens = s.usage.outputTokens;
  row.cacheReadTokens = s.usage.cacheReadTokens;
  row.cacheWriteTokens = s.usage.cacheWriteTokens;
  row.reasoningTokens = s.usage.reasoningTokens;
  row.usageSource = s.usageSource;
  row.cost = s.cost;
}

/** A call that cost nothing: the provider produced nothing, or it never ran. */
export function noSettlement(): Settlement {
  return { usage: emptyUsage(), usageSource: 'none', cost: 0 };
}

/** Tokens a settlement counts against token budgets and tpm: every input kind and the output. */
export function settledTokens(u: Usage): number {
  return u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;
}

function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
}
