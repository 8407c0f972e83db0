import type { RateLimitRule, RateScopeKind } from './types.ts';

/** Who a call is, as far as rate limits care. */
export interface RateLimitSubject {
  keyId: string;
  team: string;
  project: string;
  model: string;
}

const SUBJECT_FIELD: Record<RateScopeKind, keyof RateLimitSubject> = {
  key: 'keyId',
  team: 'team',
  project: 'project',
  model: 'model',
};

/**
 * Configured rules compiled into a lookup by scope, so a call touches only its own rules.
 * Immutable: build a new index when the config changes.
 */
export class RateLimitIndex {
  private readonly byScope = new Map<string, RateLimitRule[]>();

  constructor(private readonly rules: readonly RateLimitRule[]) {
    for (const rule of rules) {
      const k = scopeKey(rule.scope.kind, rule.scope.value);
      const list = this.byScope.get(k);
      if (list) list.push(rule);
      else this.byScope.set(k, [rule]);
    }
  }

  all(): readonly RateLimitRule[] {
    return this.rules;
  }

  /** Every configured rule that applies to the call, plus `extra` (e.g. the key record's own rule). */
  match(subject: RateLimitSubject, extra: readonly (RateLimitRule | null)[] = []): RateLimitRule[] {
    const out: RateLimitRule[] = [];
    for (const rule of extra) if (rule) out.push(rule);
    for (const kind of Object.keys(SUBJECT_FIELD) as RateScopeKind[]) {
      const found = this.byScope.get(scopeKey(kind, subject[SUBJECT_FIELD[kind]]));
      if (found) out.push(...found);
    }
    return out;
  }
}

function scopeKey(kind: RateScopeKind, value: string): string {
  return `${kind}\u0000${value}`;
}
