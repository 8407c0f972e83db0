import { MAX_LIMIT, msUntilFull, remainingUnits, waitFor } from '../../ratelimit/gcra.ts';
import { CONCURRENCY_RETRY_MS } from '../../ratelimit/limiter.ts';
import type {
  Acquire,
  BucketView,
  RateDenial,
  RateLimitRule,
  RateUnit,
  RuleSnapshot,
} from '../../ratelimit/types.ts';

/**
 * The in-memory limiter's decision rules (src/ratelimit/limiter.ts), applied to the levels a
 * Redis script read. The script decides fit-or-not atomically; these pick which rule to name and
 * build the header views, so both limiters answer a client the same way.
 */

/** One rule's bucket levels (GCRA, scaled by PERIOD_MS) and open slots, as the script saw them. */
export interface RuleLevels {
  requestLevel: number;
  tokenLevel: number;
  open: number;
}

interface Candidate {
  rule: RateLimitRule;
  unit: RateUnit;
  reason: RateDenial['reason'];
  retryAfterMs: number | null;
  limit: number;
  requested: number;
}

export function denialFor(
  rules: readonly RateLimitRule[],
  levels: readonly RuleLevels[],
  tokens: number,
): Extract<Acquire, { ok: false }> | null {
  let bound: Candidate | null = null;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    const level = levels[i];
    if (!rule || !level) continue;
    for (const c of shortfalls(rule, level, tokens)) if (binds(c, bound)) bound = c;
  }
  if (!bound) return null;
  return {
    ok: false,
    ruleId: bound.rule.id,
    scope: bound.rule.scope,
    unit: bound.unit,
    reason: bound.reason,
    retryAfterMs: bound.retryAfterMs,
    limit: bound.limit,
    requested: bound.requested,
    rules: views(rules, levels),
  };
}

export function views(rules: readonly RateLimitRule[], levels: readonly RuleLevels[]): RuleSnapshot[] {
  return rules.map((rule, i) => view(rule, levels[i] ?? { requestLevel: 0, tokenLevel: 0, open: 0 }));
}

export function view(rule: RateLimitRule, level: RuleLevels): RuleSnapshot {
  return {
    ruleId: rule.id,
    scope: rule.scope,
    requests: rule.rpm === null ? null : bucketView(level.requestLevel, rule.rpm),
    tokens: rule.tpm === null ? null : bucketView(level.tokenLevel, rule.tpm),
    concurrency: rule.concurrency === null ? null : { limit: rule.concurrency, open: level.open },
  };
}

/** Scope is part of the key, so one rule id reused for another scope never shares counters. */
export function ruleStateKey(rule: RateLimitRule): string {
  return `${encodeURIComponent(rule.id)}|${rule.scope.kind}|${encodeURIComponent(rule.scope.value)}`;
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

function shortfalls(rule: RateLimitRule, level: RuleLevels, tokens: number): Candidate[] {
  const out: Candidate[] = [];
  if (rule.rpm !== null) {
    const wait = waitFor(level.requestLevel, rule.rpm, 1);
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
      const wait = waitFor(level.tokenLevel, rule.tpm, tokens);
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
  if (rule.concurrency !== null && level.open >= rule.concurrency) {
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
function binds(c: Candidate, current: Candidate | null): boolean {
  if (current === null) return true;
  if (current.retryAfterMs === null) return false;
  if (c.retryAfterMs === null) return true;
  return c.retryAfterMs > current.retryAfterMs;
}

function bucketView(level: number, limit: number): BucketView {
  return { limit, remaining: remainingUnits(level, limit), resetMs: msUntilFull(level, limit) };
}
