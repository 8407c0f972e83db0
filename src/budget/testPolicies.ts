import type { CallIdentity, KeyIdentity } from '../identity/types.ts';
import type { BudgetPolicy, Limits, Selector, WindowSpec } from './types.ts';

/** Test fixtures shared by the budget and counter tests (not imported by production code). */

export const MONTHLY_UTC: WindowSpec = { kind: 'calendar', every: 'month', tz: 'UTC' };

export function policy(
  id: string,
  match: Selector,
  limit: Partial<Limits> = {},
  extra: Partial<Omit<BudgetPolicy, 'id' | 'match' | 'limit'>> = {},
): BudgetPolicy {
  return {
    id,
    match,
    limit: { usdNanos: null, tokens: null, requests: null, ...limit },
    window: MONTHLY_UTC,
    mode: 'hard',
    alerts: [0.5, 0.8, 1],
    clamp: true,
    degrade: null,
    onExhausted: 'deny',
    ...extra,
  };
}

export function keyIdentity(overrides: Partial<KeyIdentity> = {}): KeyIdentity {
  return {
    keyId: 'key-1',
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    costCenter: null,
    user: null,
    ...overrides,
  };
}

export function callIdentity(overrides: Partial<CallIdentity> = {}): CallIdentity {
  return {
    ...keyIdentity(),
    feature: null,
    model: 'gpt-4.1',
    provider: 'openai',
    ...overrides,
  };
}
