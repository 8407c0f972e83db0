import { describe, expect, it } from 'vitest';
import { compilePolicies } from './matcher.ts';
import { callIdentity, keyIdentity, policy } from './testPolicies.ts';

const ids = (policies: readonly { id: string }[]) => policies.map((p) => p.id);

describe('compilePolicies / match', () => {
  const index = compilePolicies([
    policy('org', { org: 'acme' }),
    policy('search-prod', { team: 'search', env: 'prod' }),
    policy('search-dev', { team: 'search', env: 'dev' }),
    policy('ads', { team: 'ads' }),
    policy('alice', { user: 'alice' }),
    policy('search-alice', { team: 'search', user: 'alice' }),
    policy('feature-summarize', { project: 'ranker', feature: 'summarize' }),
    policy('gpt-4.1', { model: 'gpt-4.1' }),
    policy('anthropic', { provider: 'anthropic' }),
    policy('key-1', { key: 'key-1' }),
    policy('everything', {}),
  ]);

  it('an empty selector matches every call', () => {
    expect(ids(compilePolicies([policy('all', {})]).match(callIdentity()))).toEqual(['all']);
  });

  it('every selector field must equal the call (all-must-match), in config order', () => {
    expect(ids(index.match(callIdentity()))).toEqual([
      'org',
      'search-prod',
      'gpt-4.1',
      'key-1',
      'everything',
    ]);
    expect(ids(index.match(callIdentity({ user: 'alice', feature: 'summarize', model: 'o3' })))).toEqual([
      'org',
      'search-prod',
      'alice',
      'search-alice',
      'feature-summarize',
      'key-1',
      'everything',
    ]);
    expect(ids(index.match(callIdentity({ provider: 'anthropic', model: 'claude' })))).toContain('anthropic');
  });

  it('`key` selects on keyId', () => {
    expect(ids(index.match(callIdentity({ keyId: 'key-2' })))).not.toContain('key-1');
  });

  it('a dev key never matches an env:prod policy', () => {
    const dev = callIdentity({ keyId: 'dev-key', env: 'dev' });
    const matched = ids(index.match(dev));
    expect(matched).toContain('search-dev');
    expect(matched).not.toContain('search-prod');
    expect(ids(index.candidatesForKey(dev))).not.toContain('search-prod');
  });

  it('a null call field never matches a selector that sets it', () => {
    const matched = ids(index.match(callIdentity({ user: null, feature: null })));
    expect(matched).not.toContain('alice');
    expect(matched).not.toContain('feature-summarize');
  });

  it('candidates filter on key fields only; user policies stay unless the key is bound to someone else', () => {
    const unbound = ids(index.candidatesForKey(keyIdentity()));
    expect(unbound).toEqual([
      'org',
      'search-prod',
      'alice',
      'search-alice',
      'feature-summarize',
      'gpt-4.1',
      'anthropic',
      'key-1',
      'everything',
    ]);
    const bob = ids(index.candidatesForKey(keyIdentity({ keyId: 'bob-key', user: 'bob' })));
    expect(bob).not.toContain('alice');
    expect(bob).not.toContain('search-alice');
    const alice = ids(index.candidatesForKey(keyIdentity({ keyId: 'alice-key', user: 'alice' })));
    expect(alice).toContain('alice');
    expect(alice).toContain('search-alice');
  });

  it('an unbound key matches user policies per call, without caching one call’s user for the next', () => {
    const fresh = compilePolicies([policy('alice', { user: 'alice' }), policy('bob', { user: 'bob' })]);
    expect(ids(fresh.match(callIdentity({ user: 'alice' })))).toEqual(['alice']);
    expect(ids(fresh.match(callIdentity({ user: 'bob' })))).toEqual(['bob']);
    expect(ids(fresh.match(callIdentity({ user: null })))).toEqual([]);
  });

  it('caches candidates per key and recomputes when the key record changes', () => {
    const fresh = compilePolicies([policy('prod', { env: 'prod' }), policy('dev', { env: 'dev' })]);
    const first = fresh.candidatesForKey(keyIdentity());
    expect(fresh.candidatesForKey(keyIdentity())).toBe(first);
    // Same call-level data, different user: still served from the same key entry.
    fresh.match(callIdentity({ user: 'someone' }));
    expect(fresh.candidatesForKey(keyIdentity())).toBe(first);
    const moved = fresh.candidatesForKey(keyIdentity({ env: 'dev' }));
    expect(ids(moved)).toEqual(['dev']);
  });

  it('a new index does not share the old one’s cache', () => {
    const a = compilePolicies([policy('p', { team: 'search' })]);
    a.candidatesForKey(keyIdentity());
    const b = compilePolicies([policy('q', { team: 'search' })]);
    expect(ids(b.candidatesForKey(keyIdentity()))).toEqual(['q']);
  });

  it('all() and get()', () => {
    expect(index.all()).toHaveLength(11);
    expect(index.get('ads')?.match).toEqual({ team: 'ads' });
    expect(index.get('missing')).toBeUndefined();
    index.all().pop();
    expect(index.all()).toHaveLength(11);
  });

  it('refuses duplicate policy ids', () => {
    expect(() => compilePolicies([policy('x', {}), policy('x', { team: 'a' })])).toThrow(/duplicate/);
  });
});
