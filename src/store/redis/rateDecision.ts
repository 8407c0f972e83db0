import {
  assertUnits,
  assertValidRule,
  binds,
  type Candidate,
  type RuleLevels,
  shortfalls,
  view,
} from '../../ratelimit/decision.ts';
import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';

export { assertUnits, assertValidRule, type RuleLevels, view };

/**
 * The in-memory limiter's decision rules (src/ratelimit/limiter.ts), applied to the levels a
 * Redis script read. The script decides fit-or-not atomically; these pick which rule to name and
 * build the header views, so both limiters answer a client the same way.
 */

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

/** Scope is part of the key, so one rule id reused for another scope never shares counters. */
export function ruleStateKey(rule: RateLimitRule): string {
  return `${encodeURIComponent(rule.id)}|${rule.scope.kind}|${encodeURIComponent(rule.scope.value)}`;
}
