import { describe, expect, it } from 'vitest';
import { clampableOutput, fitsWithin, remainingFor, remainingOf, usedFraction } from './plan.ts';
import { policy } from './testPolicies.ts';
import type { Amount, PolicyState } from './types.ts';

const amount = (nanos: number, tokens = 0, requests = 0): Amount => ({ nanos, tokens, requests });
const window = { id: '0', startMs: 0, endMs: 1, resetsAtMs: 1 };
const state = (policyId: string, spent: Amount, reserved: Amount = amount(0)): PolicyState => ({
  policyId,
  window,
  spent,
  reserved,
});

describe('fit and remaining', () => {
  const limit = { usdNanos: 100, tokens: 50, requests: null };

  it('fits up to and including the limit, per unit; null limits never bind', () => {
    expect(fitsWithin(limit, amount(40, 10), amount(30, 10), amount(30, 30, 999))).toBe(true);
    expect(fitsWithin(limit, amount(40, 10), amount(30, 10), amount(31))).toBe(false);
    expect(fitsWithin(limit, amount(0), amount(0), amount(0, 51))).toBe(false);
  });

  it('remaining floors at 0 and is null for unlimited units', () => {
    expect(remainingOf(limit, amount(40, 10), amount(30, 10))).toEqual({
      nanos: 30,
      tokens: 30,
      requests: null,
    });
    expect(remainingOf(limit, amount(140, 60), amount(0))).toEqual({ nanos: 0, tokens: 0, requests: null });
  });

  it('remainingFor takes the tightest hard policy per unit and ignores soft ones', () => {
    const team = policy('team', {}, { usdNanos: 1000, requests: 5 });
    const user = policy('user', {}, { usdNanos: 300, tokens: 400 });
    const soft = policy('soft', {}, { usdNanos: 1, tokens: 1, requests: 1 }, { mode: 'soft' });
    const states = [
      state('team', amount(900, 0, 1)),
      state('user', amount(100, 100), amount(50, 50)),
      state('soft', amount(5)),
    ];
    expect(remainingFor(states, [team, user, soft])).toEqual({ nanos: 100, tokens: 250, requests: 4 });
    // A policy with no state yet is untouched.
    expect(remainingFor([], [user])).toEqual({ nanos: 300, tokens: 400, requests: null });
    expect(remainingFor([], [])).toEqual({ nanos: null, tokens: null, requests: null });
  });

  it('usedFraction: the most-used unit, optionally with in-flight exposure', () => {
    const p = policy('p', {}, { usdNanos: 1000, tokens: 100 });
    const s = state('p', amount(500, 20), amount(300, 0));
    expect(usedFraction(p, s, false)).toBe(0.5);
    expect(usedFraction(p, s, true)).toBe(0.8);
    expect(usedFraction(policy('none', {}), s, true)).toBe(0);
  });
});

describe('clampableOutput', () => {
  // 2 nanos per input token, 10 per output token.
  const maxAffordableOutputTokens = (budget: number, input: number) => Math.floor((budget - input * 2) / 10);

  it('takes the smallest of the money cap, the token cap and the request’s own max', () => {
    const base = { inputTokens: 100, maxAffordableOutputTokens, requestedMaxOutputTokens: 4096 };
    expect(clampableOutput({ ...base, remaining: { nanos: 1200, tokens: null, requests: null } })).toBe(100);
    expect(clampableOutput({ ...base, remaining: { nanos: 1200, tokens: 150, requests: 3 } })).toBe(50);
    expect(clampableOutput({ ...base, remaining: { nanos: null, tokens: null, requests: null } })).toBe(4096);
  });

  it('returns 0 when nothing fits', () => {
    const base = { inputTokens: 100, maxAffordableOutputTokens, requestedMaxOutputTokens: 4096 };
    expect(clampableOutput({ ...base, remaining: { nanos: 150, tokens: null, requests: null } })).toBe(0);
    expect(clampableOutput({ ...base, remaining: { nanos: null, tokens: 80, requests: null } })).toBe(0);
    expect(clampableOutput({ ...base, remaining: { nanos: 10_000, tokens: null, requests: 0 } })).toBe(0);
    expect(
      clampableOutput({
        ...base,
        maxAffordableOutputTokens: () => Number.NaN,
        remaining: { nanos: 1, tokens: null, requests: null },
      }),
    ).toBe(0);
  });
});
