import { MAX_LIMIT, msUntilFull, remainingUnits, waitFor } from './gcra.ts';
import type { BucketView, RateDenial, RateLimitRule, RateUnit, RuleSnapshot } from './types.ts';

/**
 * How a rate-limit decision is explained: which rule binds, by how long, and what the headers
 * show. One set of rules for the in-memory limiter and the Redis one, so both answer a client
 * the same way.
 */

/** Concurrency has no refill time to predict; a denied call is told to come back after this. */
export const CONCURRENCY_RETRY_MS = 1_000;

/** One rule's bucket levels (GCRA, scaled by PERIOD_MS) and open slots. */
export interface RuleLevels {
  requestLevel: number;
  tokenLevel: number;
  open: number;
}

export interface Candidate {
  rule: RateLimitRule;
  unit: RateUnit;
  reason: RateDenial['reason'];
  retryAfterMs: number | null;
  limit: number;
  requested: number;
}

export function shortfalls(rule: RateLimitRule, state: RuleLevels, tokens: number): Candidate[] {
  const out: Candidate[] = [];
  if (rule.rpm !== null) {
    const wait = waitFor(state.requestLevel, rule.rpm, 1);
    if (wait > 0)
      out.push({
        rule,
        unit: 'requests',
        reason: 'exhausted',
        retryAfterMs: wait,
        limit: rule.rpm,
        requested: 1,
      });
  }
  if (rule.tpm !== null) {
    if (tokens > rule.tpm) {
      out.push({
        rule,
        unit: 'tokens',
        reason: 'exceeds_limit',
        retryAfterMs: null,
        limit: rule.tpm,
        requested: tokens,
      });
    } else {
      const wait = waitFor(state.tokenLevel, rule.tpm, tokens);
      if (wait > 0)
        out.push({
          rule,
          unit: 'tokens',
          reason: 'exhausted',
          retryAfterMs: wait,
          limit: rule.tpm,
          requested: tokens,
        });
    }
  }
  if (rule.concurrency !== null && state.open >= rule.concurrency) {
    out.push({
      rule,
      unit: 'concurrency',
      reason: 'exhausted',
      retryAfterMs: CONCURRENCY_RETRY_MS,
      limit: rule.concurrency,
      requested: 1,
    });
  }
  return out;
}

/** A call that can never fit binds first; otherwise the longest wait, since every rule must pass. */
export function binds(c: Candidate, current: Candidate | null): boolean {
  if (current === null) return true;
  if (current.retryAfterMs === null) return false;
  if (c.retryAfterMs === null) return true;
  return c.retryAfterMs > current.retryAfterMs;
}

export function view(rule: RateLimitRule, state: RuleLevels): RuleSnapshot {
  return {
    ruleId: rule.id,
    scope: rule.scope,
    requests: rule.rpm === null ? null : bucketView(state.requestLevel, rule.rpm),
    tokens: rule.tpm === null ? null : bucketView(state.tokenLevel, rule.tpm),
    concurrency: rule.concurrency === null ? null : { limit: rule.concurrency, open: state.open },
  };
}

function bucketView(level: number, limit: number): BucketView {
  return { limit, remaining: remainingUnits(level, limit), resetMs: msUntilFull(level, limit) };
}

export function assertUnits(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${what} must be a non-negative integer, got ${n}`);
}

export function assertValidRule(rule: RateLimitRule): void {
  for (const [name, limit] of [
    ['rpm', rule.rpm],
    ['tpm', rule.tpm],
    ['concurrency', rule.concurrency],
  ] as const) {
    if (limit !== null && (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)) {
      throw new RangeError(`rate limit ${rule.id}: ${name} must be an integer from 1 to ${MAX_LIMIT}`);
    }
  }
}
