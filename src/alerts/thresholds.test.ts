import { describe, expect, it } from 'vitest';
import { policy } from '../budget/testPolicies.ts';
import type { Amount, WindowBounds } from '../budget/types.ts';
import { NANOS_PER_USD } from '../money.ts';
import { alertWindowId, FiredSet, isExhausted, spentFraction, thresholdsReached } from './thresholds.ts';

const usd = (n: number): Amount => ({ nanos: n * NANOS_PER_USD, tokens: 0, requests: 0 });
const monthly = policy('search-prod-monthly', { team: 'search' }, { usdNanos: 500 * NANOS_PER_USD });
const NOV = '1793487600000';

describe('spentFraction', () => {
  it('is the most-used limited unit', () => {
    const p = policy('p', {}, { usdNanos: 100 * NANOS_PER_USD, tokens: 1000, requests: null });
    expect(spentFraction(p, { nanos: 10 * NANOS_PER_USD, tokens: 600, requests: 99 })).toBe(0.6);
    expect(spentFraction(p, { nanos: 90 * NANOS_PER_USD, tokens: 600, requests: 99 })).toBe(0.9);
  });

  it('is 0 when nothing is limited', () => {
    expect(spentFraction(policy('p', {}), { nanos: 5, tokens: 5, requests: 5 })).toBe(0);
  });
});

describe('thresholdsReached', () => {
  it('lists the thresholds at or below the fraction, ascending', () => {
    const p = policy('p', {}, { requests: 10 }, { alerts: [1, 0.5, 0.8] });
    expect(thresholdsReached(p, 0.49)).toEqual([]);
    expect(thresholdsReached(p, 0.8)).toEqual([0.5, 0.8]);
    expect(thresholdsReached(p, 1.2)).toEqual([0.5, 0.8, 1]);
  });
});

describe('FiredSet.crossed', () => {
  it('hands out each threshold once per window', () => {
    const fired = new FiredSet();
    expect(fired.crossed(monthly, usd(249), NOV)).toEqual([]);
    expect(fired.crossed(monthly, usd(250), NOV)).toEqual([0.5]);
    expect(fired.crossed(monthly, usd(300), NOV)).toEqual([]);
    expect(fired.crossed(monthly, usd(400), NOV)).toEqual([0.8]);
    expect(fired.crossed(monthly, usd(400), NOV)).toEqual([]);
    expect(fired.crossed(monthly, usd(600), NOV)).toEqual([1]);
    expect(fired.crossed(monthly, usd(700), NOV)).toEqual([]);
    expect(fired.size()).toBe(3);
  });

  it('fires every threshold a single jump passes', () => {
    const fired = new FiredSet();
    expect(fired.crossed(monthly, usd(500), NOV)).toEqual([0.5, 0.8, 1]);
  });

  it('fires again in a new window and for another policy', () => {
    const other = policy('other', {}, { usdNanos: 500 * NANOS_PER_USD });
    const fired = new FiredSet();
    expect(fired.crossed(monthly, usd(260), NOV)).toEqual([0.5]);
    expect(fired.crossed(monthly, usd(260), 'next-window')).toEqual([0.5]);
    expect(fired.crossed(other, usd(260), NOV)).toEqual([0.5]);
  });

  it('starts from preloaded keys', () => {
    const fired = new FiredSet([{ policyId: monthly.id, windowId: NOV, threshold: 0.5 }]);
    expect(fired.has(monthly.id, NOV, 0.5)).toBe(true);
    expect(fired.crossed(monthly, usd(450), NOV)).toEqual([0.8]);
  });

  it('alerts soft budgets exactly like hard ones', () => {
    const soft = policy('soft', {}, { tokens: 100 }, { mode: 'soft', alerts: [0.5, 1, 1.5] });
    const fired = new FiredSet();
    expect(fired.crossed(soft, { nanos: 0, tokens: 160, requests: 0 }, 'w')).toEqual([0.5, 1, 1.5]);
  });
});

describe('FiredSet.crossedOnDenial', () => {
  it('counts an exhausted hard budget as 100% when clamping stopped spend just short', () => {
    const fired = new FiredSet();
    const justShort = { nanos: 500 * NANOS_PER_USD - 1, tokens: 0, requests: 0 };
    expect(fired.crossed(monthly, justShort, NOV)).toEqual([0.5, 0.8]);
    expect(fired.crossedOnDenial(monthly, NOV)).toEqual([1]);
    expect(fired.crossedOnDenial(monthly, NOV)).toEqual([]);
    expect(fired.crossed(monthly, usd(500), NOV)).toEqual([]);
  });

  it('never claims thresholds above 100%', () => {
    const p = policy('p', {}, { requests: 10 }, { alerts: [0.5, 1, 1.25] });
    const fired = new FiredSet();
    expect(fired.crossedOnDenial(p, 'w')).toEqual([0.5, 1]);
    expect(fired.has('p', 'w', 1.25)).toBe(false);
  });

  it('ignores soft budgets, which never deny', () => {
    const soft = policy('soft', {}, { requests: 10 }, { mode: 'soft' });
    expect(new FiredSet().crossedOnDenial(soft, 'w')).toEqual([]);
  });
});

describe('isExhausted', () => {
  const smallest: Amount = { nanos: 2 * NANOS_PER_USD, tokens: 300, requests: 1 };

  it('is true when settled spend leaves less than the smallest useful call', () => {
    expect(isExhausted(monthly, usd(499), smallest)).toBe(true);
    expect(isExhausted(monthly, usd(498), smallest)).toBe(false);
    expect(isExhausted(monthly, usd(100), smallest)).toBe(false);
  });

  it('checks every limited unit', () => {
    const p = policy('p', {}, { tokens: 1000, requests: 10 });
    expect(isExhausted(p, { nanos: 10 ** 15, tokens: 700, requests: 9 }, smallest)).toBe(false);
    expect(isExhausted(p, { nanos: 0, tokens: 701, requests: 0 }, smallest)).toBe(true);
    expect(isExhausted(p, { nanos: 0, tokens: 0, requests: 10 }, smallest)).toBe(true);
  });

  it('never holds for soft budgets', () => {
    expect(isExhausted({ ...monthly, mode: 'soft' }, usd(500), smallest)).toBe(false);
  });
});

describe('alertWindowId', () => {
  const bounds = (id: string, startMs: number, endMs: number): WindowBounds => ({
    id,
    startMs,
    endMs,
    resetsAtMs: null,
  });

  it('is the calendar window id', () => {
    expect(alertWindowId(monthly, bounds(NOV, Number(NOV), Number(NOV) + 1))).toBe(NOV);
  });

  it('scopes a rolling window to consecutive blocks of its size', () => {
    const day = 86_400_000;
    const rolling = policy(
      'r',
      {},
      { requests: 10 },
      { window: { kind: 'rolling', sizeMs: day, bucketMs: 60_000 } },
    );
    expect(alertWindowId(rolling, bounds('rolling', 0, 3 * day + 5))).toBe(`rolling:${3 * day}`);
    expect(alertWindowId(rolling, bounds('rolling', 0, 4 * day - 1))).toBe(`rolling:${3 * day}`);
    expect(alertWindowId(rolling, bounds('rolling', 0, 4 * day))).toBe(`rolling:${4 * day}`);
  });
});
