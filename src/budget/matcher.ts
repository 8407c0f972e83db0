import type { CallIdentity, KeyIdentity } from '../identity/types.ts';
import type { BudgetPolicy, SelectorField } from './types.ts';

/**
 * Selector fields fixed by the key record, so they can be decided once per key.
 * `key` is compared with keyId.
 */
const KEY_FIELDS = ['org', 'team', 'project', 'env', 'key'] as const satisfies readonly SelectorField[];

/** Selector fields that may vary per call with the same key. */
type CallField = 'user' | 'feature' | 'model' | 'provider';
const CALL_FIELDS = ['user', 'feature', 'model', 'provider'] as const satisfies readonly CallField[];

type KeyField = (typeof KEY_FIELDS)[number];

function keyValue(key: KeyIdentity, field: KeyField): string {
  return field === 'key' ? key.keyId : key[field];
}

/** A policy with its per-call checks pre-extracted, so `match` does no selector walking. */
interface Candidate {
  policy: BudgetPolicy;
  callChecks: ReadonlyArray<readonly [CallField, string]>;
}

interface CachedCandidates {
  /** The key-record fields the entry was computed from (user is not among them: see below). */
  key: KeyIdentity;
  candidates: readonly Candidate[];
  policies: readonly BudgetPolicy[];
  /** `policies` narrowed to a bound user, computed on first use. */
  boundUser: { user: string; policies: readonly BudgetPolicy[] } | null;
}

/**
 * The compiled budget policies. Immutable: on a config change the gateway builds a new index
 * and swaps it in, which also drops the per-key cache.
 */
export interface PolicyIndex {
  /** Policies that can apply to some call made with this key (config order). */
  candidatesForKey(key: KeyIdentity): readonly BudgetPolicy[];
  /** Policies whose every selector field equals the call's (config order). */
  match(call: CallIdentity): BudgetPolicy[];
  /** Every policy in config order (a copy). */
  all(): BudgetPolicy[];
  get(id: string): BudgetPolicy | undefined;
}

export function compilePolicies(policies: readonly BudgetPolicy[]): PolicyIndex {
  const byId = new Map<string, BudgetPolicy>();
  for (const policy of policies) {
    if (byId.has(policy.id)) throw new Error(`duplicate budget policy id: ${policy.id}`);
    byId.set(policy.id, policy);
  }
  return new CompiledPolicyIndex([...policies], byId);
}

class CompiledPolicyIndex implements PolicyIndex {
  private readonly byKeyId = new Map<string, CachedCandidates>();

  constructor(
    private readonly policies: readonly BudgetPolicy[],
    private readonly byId: ReadonlyMap<string, BudgetPolicy>,
  ) {}

  candidatesForKey(key: KeyIdentity): readonly BudgetPolicy[] {
    const entry = this.cached(key);
    if (key.user === null) return entry.policies;
    if (entry.boundUser?.user !== key.user) {
      // A key bound to someone else can never produce that user (the bound user wins over the
      // request's), so those user policies are dropped; with no bound user they stay.
      const user = key.user;
      const policies = entry.policies.filter((p) => p.match.user === undefined || p.match.user === user);
      entry.boundUser = { user, policies };
    }
    return entry.boundUser.policies;
  }

  match(call: CallIdentity): BudgetPolicy[] {
    const matched: BudgetPolicy[] = [];
    for (const { policy, callChecks } of this.cached(call).candidates) {
      if (callChecks.every(([field, value]) => call[field] === value)) matched.push(policy);
    }
    return matched;
  }

  all(): BudgetPolicy[] {
    return [...this.policies];
  }

  get(id: string): BudgetPolicy | undefined {
    return this.byId.get(id);
  }

  /**
   * The one full scan happens on a key's first request; later requests read the cache.
   * The cached identity is compared too, so a key record edited in place is never served
   * another identity's policies. The user is left out of the entry on purpose: `match` gets a
   * CallIdentity whose user may come from the request, and cannot tell it from a bound user,
   * so the per-key entry keeps every user policy and `match` checks the user per call.
   */
  private cached(key: KeyIdentity): CachedCandidates {
    const hit = this.byKeyId.get(key.keyId);
    if (hit && sameKeyIdentity(hit.key, key)) return hit;
    const candidates = this.policies.filter((p) => couldApplyToKey(p, key)).map(toCandidate);
    const entry: CachedCandidates = {
      key: snapshotKey(key),
      candidates,
      policies: candidates.map((c) => c.policy),
      boundUser: null,
    };
    this.byKeyId.set(key.keyId, entry);
    return entry;
  }
}

function couldApplyToKey(policy: BudgetPolicy, key: KeyIdentity): boolean {
  for (const field of KEY_FIELDS) {
    const wanted = policy.match[field];
    if (wanted !== undefined && wanted !== keyValue(key, field)) return false;
  }
  return true;
}

function toCandidate(policy: BudgetPolicy): Candidate {
  const callChecks: Array<readonly [CallField, string]> = [];
  for (const field of CALL_FIELDS) {
    const wanted = policy.match[field];
    if (wanted !== undefined) callChecks.push([field, wanted]);
  }
  return { policy, callChecks };
}

function snapshotKey(key: KeyIdentity): KeyIdentity {
  const { keyId, org, team, project, env, costCenter } = key;
  return { keyId, org, team, project, env, costCenter, user: null };
}

function sameKeyIdentity(a: KeyIdentity, b: KeyIdentity): boolean {
  return (
    a.keyId === b.keyId && a.org === b.org && a.team === b.team && a.project === b.project && a.env === b.env
  );
}
