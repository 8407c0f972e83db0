import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import type { PolicyState } from '../../budget/types.ts';
import { callRow } from '../audit/testRows.ts';
import { forecastSpend } from './forecast.ts';
import { computeInsights, DEFAULT_INSIGHT_LIMITS } from './insights.ts';

const DAY = 86_400_000;
const jan15 = Date.UTC(2026, 0, 15);

function state(startMs: number, endMs: number, nanos: number): PolicyState {
  const zero = { nanos: 0, tokens: 0, requests: 0 };
  return {
    policyId: 'p',
    window: { id: String(startMs), startMs, endMs, resetsAtMs: endMs },
    spent: { ...zero, nanos },
    reserved: zero,
  };
}

describe('forecastSpend', () => {
  const daily = policy(
    'daily',
    {},
    { usdNanos: 10_000 },
    { window: { kind: 'calendar', every: 'day', tz: 'UTC' } },
  );

  it('carries the burn rate so far to the end of the window, in integer nanos', () => {
    const f = forecastSpend(daily, state(jan15, jan15 + DAY, 2_001), jan15 + DAY / 4);
    expect(f).toMatchObject({
      forecast: { usd: '0.000008004', nanos: 8_004 },
      limit: { usd: '0.00001', nanos: 10_000 },
      forecastUtilization: 0.8004,
      exhaustsAt: null,
      windowStart: '2026-01-15T00:00:00.000Z',
      windowEnd: '2026-01-16T00:00:00.000Z',
    });
  });

  it('says when the limit runs out inside the window, and null when nothing was spent', () => {
    const hot = forecastSpend(daily, state(jan15, jan15 + DAY, 5_000), jan15 + DAY / 4);
    expect(hot.forecast?.nanos).toBe(20_000);
    expect(hot.exhaustsAt).toBe('2026-01-15T12:00:00.000Z');
    expect(forecastSpend(daily, state(jan15, jan15 + DAY, 0), jan15 + 1).forecast).toBeNull();
  });
});

describe('computeInsights', () => {
  const rows = [
    callRow({ callId: 'big', requestId: 'r1', feature: 'search', cost: 900, tsStart: jan15 + 1 }),
    callRow({ callId: 'loop-1', requestId: 'agent', feature: 'chat', cost: 100, tsStart: jan15 + 2 }),
    callRow({
      callId: 'loop-2',
      requestId: 'agent',
      feature: 'chat',
      cost: 100,
      tsStart: jan15 + 3,
      modelUsed: 'mini',
    }),
    callRow({
      callId: 'retry',
      attempt: 1,
      status: 'upstream_error',
      usageSource: 'none',
      cost: 0,
      inputTokens: 0,
      outputTokens: 0,
      tsStart: jan15 + 4,
    }),
    callRow({
      callId: 'retry',
      attempt: 2,
      status: 'upstream_error',
      usageSource: 'none',
      cost: 0,
      inputTokens: 0,
      outputTokens: 0,
      tsStart: jan15 + 4,
    }),
    callRow({
      callId: 'refused',
      status: 'denied',
      usageSource: 'none',
      cost: 0,
      inputTokens: 0,
      outputTokens: 0,
      tsStart: jan15 + 5,
    }),
  ];
  const report = computeInsights(rows, [], {
    ...DEFAULT_INSIGHT_LIMITS,
    loopMinCalls: 2,
    fromMs: jan15,
    toMs: jan15 + DAY,
    nowMs: jan15 + DAY - 1,
  });

  it('ranks calls and features by cost', () => {
    expect(report.totals).toEqual({ calls: 5, attempts: 6, cost: { usd: '0.0000011', nanos: 1_100 } });
    expect(report.topCalls.map((c) => [c.callId, c.cost.nanos, c.requestId, c.feature])).toEqual([
      ['big', 900, 'r1', 'search'],
      ['loop-1', 100, 'agent', 'chat'],
      ['loop-2', 100, 'agent', 'chat'],
    ]);
    expect(report.topFeatures.map((f) => [f.feature, f.cost.nanos, f.calls, f.spendShare])).toEqual([
      ['search', 900, 1, 0.8182],
      ['chat', 200, 2, 0.1818],
      [null, 0, 2, 0],
    ]);
  });

  it('finds request ids with many calls and calls retried after failures', () => {
    expect(
      report.retryLoops.map((l) => [l.requestId, l.callId, l.calls, l.attempts, l.failures, l.reasons]),
    ).toEqual([
      ['agent', null, 2, 2, 0, ['many_calls']],
      [null, 'retry', 1, 2, 2, ['many_failures', 'retried']],
    ]);
  });

  it('splits spend and forwarded calls by model, refused calls left out', () => {
    expect(report.modelMix).toEqual([
      {
        model: 'gpt-4.1',
        calls: 4,
        cost: { usd: '0.000001', nanos: 1_000 },
        spendShare: 0.9091,
        callShare: 0.8,
      },
      { model: 'mini', calls: 1, cost: { usd: '0.0000001', nanos: 100 }, spendShare: 0.0909, callShare: 0.2 },
    ]);
  });
});
