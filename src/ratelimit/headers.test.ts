import { describe, expect, it } from 'vitest';
import {
  describeAcquire,
  formatResetDuration,
  rateLimitDenialHeaders,
  rateLimitHeaders,
  rateLimitMessage,
} from './headers.ts';
import type { RateDenial, RuleSnapshot } from './types.ts';

function snap(
  ruleId: string,
  requests: RuleSnapshot['requests'],
  tokens: RuleSnapshot['tokens'] = null,
): RuleSnapshot {
  return { ruleId, scope: { kind: 'team', value: ruleId }, requests, tokens, concurrency: null };
}

describe('formatResetDuration (OpenAI / Go duration format)', () => {
  it.each([
    [0, '0s'],
    [-5, '0s'],
    [0.4, '1ms'],
    [1, '1ms'],
    [120, '120ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [2357, '2.357s'],
    [6000, '6s'],
    [59_999, '59.999s'],
    [60_000, '1m0s'],
    [90_500, '1m30.5s'],
    [360_000, '6m0s'],
    [3_600_000, '1h0m0s'],
    [3_723_040, '1h2m3.04s'],
  ])('%d ms -> %s', (ms, text) => {
    expect(formatResetDuration(ms)).toBe(text);
  });
});

describe('rateLimitHeaders', () => {
  it('reports the most restrictive rule per unit', () => {
    const headers = rateLimitHeaders([
      snap(
        'key',
        { limit: 10, remaining: 7, resetMs: 18_000 },
        { limit: 1000, remaining: 100, resetMs: 54_000 },
      ),
      snap(
        'team',
        { limit: 600, remaining: 3, resetMs: 60_000 },
        { limit: 90_000, remaining: 5000, resetMs: 1200 },
      ),
    ]);
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '3',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '100',
      'x-ratelimit-reset-tokens': '54s',
    });
  });

  it('breaks a tie on remaining by the longer reset, and omits units no rule limits', () => {
    const headers = rateLimitHeaders([
      snap('a', { limit: 10, remaining: 0, resetMs: 6000 }),
      snap('b', { limit: 20, remaining: 0, resetMs: 120 }),
      snap('c', null),
    ]);
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '6s',
    });
    expect(rateLimitHeaders([])).toEqual({});
  });
});

const exhausted: RateDenial = {
  ok: false,
  ruleId: 'search-team',
  scope: { kind: 'team', value: 'search' },
  unit: 'requests',
  reason: 'exhausted',
  retryAfterMs: 6000,
  limit: 10,
  requested: 1,
  rules: [snap('search-team', { limit: 10, remaining: 0, resetMs: 60_000 })],
};

describe('denials', () => {
  it('sets retry-after in whole seconds (ceil) and retry-after-ms', () => {
    expect(rateLimitDenialHeaders(exhausted)).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
      'x-ratelimit-exceeded': 'search-team',
      'retry-after': '6',
      'retry-after-ms': '6000',
    });
    const short = rateLimitDenialHeaders({ ...exhausted, retryAfterMs: 1 });
    expect([short['retry-after'], short['retry-after-ms']]).toEqual(['1', '1']);
    const odd = rateLimitDenialHeaders({ ...exhausted, retryAfterMs: 6001 });
    expect([odd['retry-after'], odd['retry-after-ms']]).toEqual(['7', '6001']);
  });

  it('sends no retry-after for a call that can never fit', () => {
    const never: RateDenial = {
      ...exhausted,
      unit: 'tokens',
      reason: 'exceeds_limit',
      retryAfterMs: null,
      limit: 10_000,
      requested: 20_000,
      rules: [],
    };
    expect(rateLimitDenialHeaders(never)).toEqual({ 'x-ratelimit-exceeded': 'search-team' });
    expect(rateLimitMessage(never)).toBe(
      'This request needs an estimated 20000 tokens, more than rate limit search-team (team search) ' +
        'allows per minute (10000); it can never be admitted. Lower max_tokens or shorten the input.',
    );
  });

  it('names the rule, the unit and the wait in the message', () => {
    expect(rateLimitMessage(exhausted)).toBe(
      'Rate limit reached: rate limit search-team (team search) on requests per minute, limit 10. Retry after 6s.',
    );
    expect(rateLimitMessage({ ...exhausted, unit: 'concurrency', limit: 4, retryAfterMs: 1000 })).toBe(
      'Rate limit reached: rate limit search-team (team search) on concurrent requests, limit 4. Retry after 1s.',
    );
  });

  it('describeAcquire gives the pipeline headers or a refusal', () => {
    expect(describeAcquire({ ok: true, handleId: 'c1', rules: [] })).toEqual({ ok: true, headers: {} });
    const d = describeAcquire(exhausted);
    expect(
      d.ok ? null : [d.ruleId, d.headers['retry-after'], d.message.startsWith('Rate limit reached')],
    ).toEqual(['search-team', '6', true]);
  });
});
