import { describe, expect, it } from 'vitest';
import { CONCURRENCY_RETRY_MS, RateLimiter } from './limiter.ts';
import type { Acquire, RateLimitRule, RuleSnapshot } from './types.ts';

const T0 = 1_750_000_000_000;

function rule(
  id: string,
  limits: Partial<Pick<RateLimitRule, 'rpm' | 'tpm' | 'concurrency'>>,
): RateLimitRule {
  return {
    id,
    scope: { kind: 'key', value: id },
    rpm: limits.rpm ?? null,
    tpm: limits.tpm ?? null,
    concurrency: limits.concurrency ?? null,
  };
}

function okRules(a: Acquire): RuleSnapshot[] {
  if (!a.ok) throw new Error(`expected admission, got ${a.unit} denial by ${a.ruleId}`);
  return a.rules;
}

describe('requests per minute (GCRA, burst = rpm)', () => {
  it('admits 10 at once, denies the 11th for 6 s, then admits exactly one', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 10 });
    for (let i = 0; i < 10; i++) expect(rl.acquire(`c${i}`, [r], 0, T0).ok).toBe(true);
    expect(rl.acquire('c10', [r], 0, T0)).toEqual({
      ok: false,
      ruleId: 'k',
      scope: { kind: 'key', value: 'k' },
      unit: 'requests',
      reason: 'exhausted',
      retryAfterMs: 6000,
      limit: 10,
      requested: 1,
      rules: [
        {
          ruleId: 'k',
          scope: { kind: 'key', value: 'k' },
          requests: { limit: 10, remaining: 0, resetMs: 60_000 },
          tokens: null,
          concurrency: null,
        },
      ],
    });
    const early = rl.acquire('c11', [r], 0, T0 + 5999);
    expect(early.ok ? null : early.retryAfterMs).toBe(1);
    expect(rl.acquire('c12', [r], 0, T0 + 6000).ok).toBe(true);
    const after = rl.acquire('c13', [r], 0, T0 + 6000);
    expect(after.ok ? null : after.retryAfterMs).toBe(6000);
  });

  it('reports remaining and time to full after each admission', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 10 });
    expect(okRules(rl.acquire('a', [r], 0, T0))[0]?.requests).toEqual({
      limit: 10,
      remaining: 9,
      resetMs: 6000,
    });
    expect(rl.snapshot(r, T0 + 3000).requests).toEqual({ limit: 10, remaining: 9, resetMs: 3000 });
    expect(rl.snapshot(r, T0 + 6000).requests).toEqual({ limit: 10, remaining: 10, resetMs: 0 });
  });

  it('keeps the request charged on settle and release', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 2 });
    rl.acquire('a', [r], 0, T0);
    rl.acquire('b', [r], 0, T0);
    rl.settle('a', 0, T0);
    rl.release('b');
    expect(rl.snapshot(r, T0).requests?.remaining).toBe(0);
  });
});

describe('tokens per minute', () => {
  it('reserves the estimate and denies what does not fit, with the exact wait', () => {
    const rl = new RateLimiter();
    const r = rule('k', { tpm: 1000 });
    expect(okRules(rl.acquire('a', [r], 600, T0))[0]?.tokens).toEqual({
      limit: 1000,
      remaining: 400,
      resetMs: 36_000,
    });
    const denied = rl.acquire('b', [r], 500, T0);
    expect(denied.ok).toBe(false);
    if (denied.ok) return;
    expect([denied.unit, denied.reason, denied.retryAfterMs, denied.requested]).toEqual([
      'tokens',
      'exhausted',
      6000,
      500,
    ]);
  });

  it('settle refunds the unused estimate at once', () => {
    const rl = new RateLimiter();
    const r = rule('k', { tpm: 1000 });
    rl.acquire('a', [r], 600, T0);
    expect(rl.settle('a', 100, T0 + 10)).toBe(true);
    // 100 actual tokens, less 10 ms of refill at 1000/min (1/6 token): 900 whole tokens free.
    expect(rl.snapshot(r, T0 + 10).tokens).toEqual({ limit: 1000, remaining: 900, resetMs: 5990 });
    expect(rl.acquire('b', [r], 900, T0 + 10).ok).toBe(true);
    expect(rl.acquire('c', [r], 1, T0 + 10).ok).toBe(false);
  });

  it('refunds only what time has not already given back (first in, first out)', () => {
    const rl = new RateLimiter();
    const r = rule('k', { tpm: 1000 });
    rl.acquire('a', [r], 600, T0);
    rl.acquire('b', [r], 400, T0);
    // 30 s later 500 tokens have drained: all but 100 of a's 600, none of b's 400.
    rl.settle('a', 0, T0 + 30_000);
    expect(rl.snapshot(r, T0 + 30_000).tokens).toEqual({ limit: 1000, remaining: 600, resetMs: 24_000 });
  });

  it('charges usage beyond the estimate, past full, and the debt drains', () => {
    const rl = new RateLimiter();
    const r = rule('k', { tpm: 1000 });
    rl.acquire('a', [r], 100, T0);
    rl.settle('a', 1500, T0);
    expect(rl.snapshot(r, T0).tokens).toEqual({ limit: 1000, remaining: 0, resetMs: 90_000 });
    const denied = rl.acquire('b', [r], 0, T0);
    expect(denied.ok ? null : denied.retryAfterMs).toBe(30_000);
    expect(rl.acquire('c', [r], 1, T0 + 30_060).ok).toBe(true);
  });

  it('denies an estimate above the whole tpm even on a full bucket, with no retry time', () => {
    const rl = new RateLimiter();
    const r = rule('k', { tpm: 1000 });
    const denied = rl.acquire('a', [r], 1001, T0);
    expect(denied.ok).toBe(false);
    if (denied.ok) return;
    expect([denied.unit, denied.reason, denied.retryAfterMs, denied.limit, denied.requested]).toEqual([
      'tokens',
      'exceeds_limit',
      null,
      1000,
      1001,
    ]);
    expect(rl.acquire('b', [r], 1000, T0).ok).toBe(true);
  });
});

describe('concurrency', () => {
  it('counts open acquisitions; settle and release free the slot; both are idempotent', () => {
    const rl = new RateLimiter();
    const r = rule('k', { concurrency: 2 });
    expect(rl.acquire('a', [r], 0, T0).ok).toBe(true);
    expect(rl.acquire('b', [r], 0, T0).ok).toBe(true);
    const denied = rl.acquire('c', [r], 0, T0);
    expect(denied.ok ? null : [denied.unit, denied.retryAfterMs]).toEqual([
      'concurrency',
      CONCURRENCY_RETRY_MS,
    ]);
    expect(rl.openCount()).toBe(2);

    expect(rl.settle('a', 10, T0)).toBe(true);
    expect(rl.settle('a', 10, T0)).toBe(false);
    expect(rl.release('a')).toBe(false);
    expect(rl.snapshot(r, T0).concurrency).toEqual({ limit: 2, open: 1 });

    expect(rl.release('b')).toBe(true);
    expect(rl.release('b')).toBe(false);
    expect(rl.settle('b', 0, T0)).toBe(false);
    expect(rl.cancel('b', T0)).toBe(false);
    expect(rl.snapshot(r, T0).concurrency).toEqual({ limit: 2, open: 0 });
    expect(rl.openCount()).toBe(0);

    expect(rl.release('never-opened')).toBe(false);
    expect(rl.snapshot(r, T0).concurrency).toEqual({ limit: 2, open: 0 });
    expect(rl.acquire('d', [r], 0, T0).ok).toBe(true);
  });
});

describe('cancel', () => {
  it('gives back the request, the tokens and the slot of a call that never left', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 1, tpm: 100, concurrency: 1 });
    rl.acquire('a', [r], 80, T0);
    expect(rl.cancel('a', T0)).toBe(true);
    expect(rl.cancel('a', T0)).toBe(false);
    expect(rl.snapshot(r, T0)).toEqual({
      ruleId: 'k',
      scope: { kind: 'key', value: 'k' },
      requests: { limit: 1, remaining: 1, resetMs: 0 },
      tokens: { limit: 100, remaining: 100, resetMs: 0 },
      concurrency: { limit: 1, open: 0 },
    });
    expect(rl.acquire('b', [r], 100, T0).ok).toBe(true);
  });
});

describe('all or none', () => {
  it('a denial by one rule charges none of the others', () => {
    const rl = new RateLimiter();
    const team = rule('team', { rpm: 1 });
    const key = rule('key', { rpm: 10, tpm: 1000, concurrency: 5 });
    rl.acquire('first', [team], 0, T0);
    const denied = rl.acquire('second', [key, team], 700, T0);
    expect(denied.ok ? null : denied.ruleId).toBe('team');
    expect(rl.snapshot(key, T0)).toEqual({
      ruleId: 'key',
      scope: { kind: 'key', value: 'key' },
      requests: { limit: 10, remaining: 10, resetMs: 0 },
      tokens: { limit: 1000, remaining: 1000, resetMs: 0 },
      concurrency: { limit: 5, open: 0 },
    });
    expect(rl.openCount()).toBe(1);
  });

  it('names the rule that binds longest; a call that can never fit binds first', () => {
    const rl = new RateLimiter();
    const slow = rule('slow', { rpm: 1 });
    const fast = rule('fast', { rpm: 60 });
    for (let i = 0; i < 60; i++) rl.acquire(`f${i}`, [fast], 0, T0);
    rl.acquire('s', [slow], 0, T0);
    const both = rl.acquire('x', [fast, slow], 0, T0);
    expect(both.ok ? null : [both.ruleId, both.retryAfterMs]).toEqual(['slow', 60_000]);
    const tiny = rule('tiny', { tpm: 10 });
    const never = rl.acquire('y', [fast, slow, tiny], 11, T0);
    expect(never.ok ? null : [never.ruleId, never.reason, never.retryAfterMs]).toEqual([
      'tiny',
      'exceeds_limit',
      null,
    ]);
  });

  it('charges a rule listed twice once', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 2 });
    expect(okRules(rl.acquire('a', [r, r], 0, T0)).length).toBe(1);
    expect(rl.snapshot(r, T0).requests?.remaining).toBe(1);
  });

  it('keeps rules with one id but different scopes apart', () => {
    const rl = new RateLimiter();
    const a: RateLimitRule = { ...rule('same', { rpm: 1 }), scope: { kind: 'team', value: 'a' } };
    const b: RateLimitRule = { ...a, scope: { kind: 'team', value: 'b' } };
    expect(rl.acquire('1', [a], 0, T0).ok).toBe(true);
    expect(rl.acquire('2', [b], 0, T0).ok).toBe(true);
  });
});

describe('guards', () => {
  it('refuses a reused open id, bad token counts and bad rules', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 5 });
    rl.acquire('a', [r], 0, T0);
    expect(() => rl.acquire('a', [r], 0, T0)).toThrow('rate limit handle already open: a');
    expect(() => rl.acquire('b', [r], -1, T0)).toThrow(RangeError);
    expect(() => rl.acquire('b', [r], 1.5, T0)).toThrow(RangeError);
    expect(() => rl.settle('a', Number.NaN, T0)).toThrow(RangeError);
    expect(() => rl.acquire('b', [rule('z', { rpm: 0 })], 0, T0)).toThrow(
      'rate limit z: rpm must be an integer from 1 to 1000000000',
    );
    expect(rl.openCount()).toBe(1);
  });

  it('does not refill twice when the clock steps back', () => {
    const rl = new RateLimiter();
    const r = rule('k', { rpm: 1 });
    rl.acquire('a', [r], 0, T0 + 10_000);
    expect(rl.acquire('b', [r], 0, T0).ok).toBe(false);
    const later = rl.acquire('c', [r], 0, T0 + 69_999);
    expect(later.ok ? null : later.retryAfterMs).toBe(1);
  });
});

describe('memory', () => {
  it('forgets a scope once it is idle and full, but never one with an open call', () => {
    const rl = new RateLimiter();
    const idle = rule('idle', { rpm: 10, tpm: 1000 });
    const busy = rule('busy', { concurrency: 1 });
    rl.acquire('a', [idle], 500, T0);
    rl.settle('a', 500, T0);
    rl.acquire('b', [busy], 0, T0);
    expect(rl.stateCount()).toBe(2);
    rl.sweep(T0 + 29_999);
    expect(rl.stateCount()).toBe(2);
    rl.sweep(T0 + 30_000);
    expect(rl.stateCount()).toBe(1);
    rl.release('b');
    rl.sweep(T0 + 30_000);
    expect(rl.stateCount()).toBe(0);
  });

  it('sweeps on its own as time passes', () => {
    const rl = new RateLimiter();
    for (let i = 0; i < 100; i++) {
      const id = `c${i}`;
      rl.acquire(id, [rule(`key-${i}`, { rpm: 60 })], 0, T0);
      rl.settle(id, 0, T0);
    }
    expect(rl.stateCount()).toBe(100);
    rl.acquire('late', [rule('other', { rpm: 60 })], 0, T0 + 120_000);
    expect(rl.stateCount()).toBe(1);
  });
});
