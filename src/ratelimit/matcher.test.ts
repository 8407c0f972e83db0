import { describe, expect, it } from 'vitest';
import { RateLimitIndex } from './matcher.ts';
import type { RateLimitRule } from './types.ts';

function rule(id: string, kind: RateLimitRule['scope']['kind'], value: string): RateLimitRule {
  return { id, scope: { kind, value }, rpm: 1, tpm: null, concurrency: null };
}

describe('RateLimitIndex', () => {
  const rules = [
    rule('team-search', 'team', 'search'),
    rule('team-ads', 'team', 'ads'),
    rule('project-web', 'project', 'web'),
    rule('model-gpt', 'model', 'gpt-4.1'),
    rule('key-k1', 'key', 'k1'),
    rule('team-search-2', 'team', 'search'),
  ];
  const index = new RateLimitIndex(rules);

  it('finds every rule on the call’s key, team, project and model, and only those', () => {
    const subject = { keyId: 'k1', team: 'search', project: 'web', model: 'gpt-4.1' };
    expect(index.match(subject).map((r) => r.id)).toEqual([
      'key-k1',
      'team-search',
      'team-search-2',
      'project-web',
      'model-gpt',
    ]);
    expect(index.match({ keyId: 'k2', team: 'ads', project: 'api', model: 'o3' }).map((r) => r.id)).toEqual([
      'team-ads',
    ]);
  });

  it('does not match a value on another scope kind', () => {
    expect(index.match({ keyId: 'search', team: 'web', project: 'k1', model: 'ads' })).toEqual([]);
  });

  it('puts the key record’s own rule first and skips a missing one', () => {
    const own = rule('key:k9', 'key', 'k9');
    const subject = { keyId: 'k9', team: 'ads', project: 'api', model: 'o3' };
    expect(index.match(subject, [own, null]).map((r) => r.id)).toEqual(['key:k9', 'team-ads']);
    expect(index.all()).toEqual(rules);
  });
});
