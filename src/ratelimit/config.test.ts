import { describe, expect, it } from 'vitest';
import { compileRateLimits, keyRateLimitRule, rateLimitsSchema } from './config.ts';

function issues(input: unknown): string[] {
  const r = rateLimitsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('rate_limits config', () => {
  it('parses and compiles rules to one scope each', () => {
    const raw = rateLimitsSchema.parse([
      { id: 'search-team', match: { team: 'search' }, rpm: 600, tpm: 200_000, concurrency: 20 },
      { id: 'gpt4-model', match: { model: 'gpt-4.1' }, tpm: 1_000_000 },
      { id: 'bot-key', match: { key: 'key_123' }, concurrency: 2 },
    ]);
    expect(compileRateLimits(raw)).toEqual([
      {
        id: 'search-team',
        scope: { kind: 'team', value: 'search' },
        rpm: 600,
        tpm: 200_000,
        concurrency: 20,
      },
      {
        id: 'gpt4-model',
        scope: { kind: 'model', value: 'gpt-4.1' },
        rpm: null,
        tpm: 1_000_000,
        concurrency: null,
      },
      { id: 'bot-key', scope: { kind: 'key', value: 'key_123' }, rpm: null, tpm: null, concurrency: 2 },
    ]);
  });

  it('defaults to no rules', () => {
    expect(rateLimitsSchema.parse(undefined)).toEqual([]);
  });

  it('refuses a match on zero or several scopes', () => {
    expect(issues([{ id: 'a', match: {}, rpm: 1 }])).toEqual([
      '0.match: match exactly one of key, team, project, model',
    ]);
    expect(issues([{ id: 'a', match: { team: 't', project: 'p' }, rpm: 1 }])).toEqual([
      '0.match: match exactly one of key, team, project, model',
    ]);
    expect(issues([{ id: 'a', match: { env: 'prod' }, rpm: 1 }])).toEqual([
      '0.match: Unrecognized key: "env"',
      '0.match: match exactly one of key, team, project, model',
    ]);
  });

  it('refuses rules without limits, non-positive or fractional limits, bad and duplicate ids', () => {
    expect(issues([{ id: 'a', match: { team: 't' } }])).toEqual([
      '0: a rate limit needs at least one of rpm, tpm, concurrency',
    ]);
    expect(issues([{ id: 'a', match: { team: 't' }, rpm: 0 }]).map((i) => i.split(':')[0])).toEqual([
      '0.rpm',
    ]);
    expect(issues([{ id: 'a', match: { team: 't' }, tpm: 1.5 }]).map((i) => i.split(':')[0])).toEqual([
      '0.tpm',
    ]);
    expect(
      issues([{ id: 'a', match: { team: 't' }, concurrency: 2_000_000_000 }]).map((i) => i.split(':')[0]),
    ).toEqual(['0.concurrency']);
    expect(issues([{ id: '-bad', match: { team: 't' }, rpm: 1 }]).map((i) => i.split(':')[0])).toEqual([
      '0.id',
    ]);
    expect(
      issues([
        { id: 'a', match: { team: 't' }, rpm: 1 },
        { id: 'a', match: { team: 'u' }, rpm: 1 },
      ]),
    ).toEqual(['1.id: duplicate rate limit id a']);
    expect(issues([{ id: 'a', match: { team: 't' }, rpm: 1, burst: 5 }]).length).toBe(1);
  });
});

describe('keyRateLimitRule', () => {
  it('turns a key record’s own limits into a key-scoped rule', () => {
    expect(keyRateLimitRule('key_1', { rpm: 10, tpm: null, maxConcurrent: 3 })).toEqual({
      id: 'key:key_1',
      scope: { kind: 'key', value: 'key_1' },
      rpm: 10,
      tpm: null,
      concurrency: 3,
    });
    expect(keyRateLimitRule('key_1', {})).toBeNull();
    expect(keyRateLimitRule('key_1', { rpm: null, tpm: null, maxConcurrent: null })).toBeNull();
  });
});
