import { describe, expect, it } from 'vitest';
import { policy } from '../budget/testPolicies.ts';
import type { BudgetPolicy } from '../budget/types.ts';
import { currentWindow } from '../budget/windows.ts';
import { NANOS_PER_USD } from '../money.ts';
import type { RepeatsTrip, VelocityTrip } from '../runaway/types.ts';
import { type AlertEvent, buildAlertEvent, buildRunawayEvent, windowLabel } from './events.ts';
import { alertText, runawaySlackPayload, runawayText, slackPayload } from './slack.ts';

const BERLIN_MONTHLY = { kind: 'calendar', every: 'month', tz: 'Europe/Berlin' } as const;
const searchMonthly = policy(
  'search-prod-monthly',
  { team: 'search', env: 'prod' },
  { usdNanos: 500 * NANOS_PER_USD },
  { window: BERLIN_MONTHLY },
);
const AT = Date.UTC(2026, 10, 15, 12);

function eventFor(
  p: BudgetPolicy,
  threshold: number,
  nanos: number,
  extra: Partial<AlertEvent> = {},
): AlertEvent {
  const window = currentWindow(p.window, AT);
  return {
    ...buildAlertEvent({
      id: 'evt_1',
      policy: p,
      threshold,
      windowId: window.id,
      window,
      spent: { nanos, tokens: 1234, requests: 7 },
      atMs: AT,
      reason: 'spend',
    }),
    ...extra,
  };
}

describe('buildAlertEvent', () => {
  it('carries money as decimal strings and the window in ISO', () => {
    expect(eventFor(searchMonthly, 0.8, 400_123_456_789)).toEqual({
      id: 'evt_1',
      type: 'budget.threshold',
      policyId: 'search-prod-monthly',
      mode: 'hard',
      threshold: 0.8,
      windowId: '1793487600000',
      windowStart: '2026-10-31T23:00:00.000Z',
      windowEnd: '2026-11-30T23:00:00.000Z',
      windowLabel: '2026-11 (Europe/Berlin)',
      spentUsd: '400.123456789',
      limitUsd: '500',
      spentTokens: 1234,
      limitTokens: null,
      spentRequests: 7,
      limitRequests: null,
      usedFraction: 400_123_456_789 / 500_000_000_000,
      at: '2026-11-15T12:00:00.000Z',
      reason: 'spend',
    });
  });

  it('has a null USD limit and no infinite fraction when it cannot have one', () => {
    const zero = policy('zero', {}, { usdNanos: 0, tokens: 10 });
    const e = eventFor(zero, 1, 5);
    expect(e.limitUsd).toBe('0');
    expect(e.usedFraction).toBeNull();
    expect(eventFor(policy('t', {}, { tokens: 10_000 }), 0.5, 5).limitUsd).toBeNull();
  });
});

describe('windowLabel', () => {
  const start = Date.UTC(2026, 10, 2, 0);
  it('names calendar windows by their local start date', () => {
    expect(windowLabel({ kind: 'calendar', every: 'day', tz: 'UTC' }, start)).toBe('2026-11-02 (UTC)');
    expect(windowLabel({ kind: 'calendar', every: 'week', tz: 'UTC' }, start)).toBe(
      'week of 2026-11-02 (UTC)',
    );
    expect(windowLabel({ kind: 'calendar', every: 'year', tz: 'UTC' }, Date.UTC(2026, 0, 1))).toBe(
      '2026 (UTC)',
    );
  });

  it('names rolling windows by their size', () => {
    expect(windowLabel({ kind: 'rolling', sizeMs: 30 * 86_400_000, bucketMs: 43_200_000 }, 0)).toBe(
      'rolling 30d',
    );
    expect(windowLabel({ kind: 'rolling', sizeMs: 90_000, bucketMs: 1000 }, 0)).toBe('rolling 90s');
  });
});

describe('slackPayload', () => {
  it('reads like a sentence', () => {
    expect(alertText(eventFor(searchMonthly, 0.8, 400 * NANOS_PER_USD))).toBe(
      'Budget search-prod-monthly reached 80% (USD 400.00 of 500.00) — window 2026-11 (Europe/Berlin)',
    );
  });

  it('rounds spend down to cents and lists every limited unit', () => {
    const p = policy(
      'multi',
      {},
      { usdNanos: 500 * NANOS_PER_USD, tokens: 2_000_000, requests: 10 },
      {
        window: BERLIN_MONTHLY,
      },
    );
    const e = eventFor(p, 1, 499_999_999_999, { reason: 'denied' });
    expect(alertText(e)).toBe(
      'Budget multi reached 100% (USD 499.99 of 500.00; 1,234 of 2,000,000 tokens; 7 of 10 requests)' +
        ' — window 2026-11 (Europe/Berlin) — calls are being denied',
    );
  });

  it('is { text, blocks } with a mrkdwn section and a context line', () => {
    const soft = { ...searchMonthly, mode: 'soft' as const };
    const payload = slackPayload(eventFor(soft, 0.5, 250 * NANOS_PER_USD));
    expect(payload).toEqual({
      text: 'Budget search-prod-monthly reached 50% (USD 250.00 of 500.00) — window 2026-11 (Europe/Berlin)',
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: ':warning: Budget search-prod-monthly reached 50% (USD 250.00 of 500.00) — window 2026-11 (Europe/Berlin)',
          },
        },
        {
          type: 'context',
          elements: [
            { type: 'mrkdwn', text: 'soft budget (alert only) · event evt_1 · 2026-11-15T12:00:00.000Z' },
          ],
        },
      ],
    });
  });
});

const VELOCITY: VelocityTrip = {
  kind: 'velocity',
  keyId: 'key_abc',
  feature: null,
  action: 'suspend',
  untilMs: Date.UTC(2026, 10, 23, 12),
  reason: 'key key_abc spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
  at: Date.UTC(2026, 10, 23, 11),
  detail: {
    scope: 'key',
    currentNanosPerMin: 10_500_000_000,
    baselineNanosPerMin: 1_000_000_000,
    thresholdNanosPerMin: 10_000_000_000,
    factor: 10,
    calls: 42,
    warmingUp: false,
    windowMs: 60_000,
  },
};

const REPEATS: RepeatsTrip = {
  kind: 'repeats',
  keyId: 'key_abc',
  feature: 'summarize',
  action: 'alert',
  untilMs: null,
  reason: 'key key_abc sent the same prompt 21 times within 5m (limit 20)',
  at: Date.UTC(2026, 10, 23, 11, 0, 0, 250),
  detail: { promptHash: 'ph_1f2e', count: 21, maxIdentical: 20, windowMs: 300_000 },
};

const WHO = { org: 'acme', team: 'search', project: 'web', env: 'prod' };

describe('buildRunawayEvent', () => {
  it('carries a velocity trip with its rates as decimal USD per minute', () => {
    expect(buildRunawayEvent('evt_r1', VELOCITY, WHO)).toEqual({
      id: 'evt_r1',
      type: 'runaway.tripped',
      at: '2026-11-23T11:00:00.000Z',
      kind: 'velocity',
      action: 'suspend',
      keyId: 'key_abc',
      feature: null,
      org: 'acme',
      team: 'search',
      project: 'web',
      env: 'prod',
      suspendedUntil: '2026-11-23T12:00:00.000Z',
      reason: 'key key_abc spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
      detail: {
        scope: 'key',
        currentUsdPerMin: '10.5',
        baselineUsdPerMin: '1',
        thresholdUsdPerMin: '10',
        factor: 10,
        calls: 42,
        warmingUp: false,
        windowMs: 60_000,
      },
    });
  });

  it('rounds unrounded rates to whole nanos instead of throwing', () => {
    const trip: VelocityTrip = {
      ...VELOCITY,
      detail: {
        ...VELOCITY.detail,
        currentNanosPerMin: 6_200_000_000.6,
        baselineNanosPerMin: 0.4,
        thresholdNanosPerMin: 500_000_000.5,
      },
    };
    const event = buildRunawayEvent('evt_r2', trip, WHO);
    expect(event.detail).toMatchObject({
      currentUsdPerMin: '6.200000001',
      baselineUsdPerMin: '0',
      thresholdUsdPerMin: '0.500000001',
    });
  });

  it('carries a repeats trip, alert only', () => {
    expect(buildRunawayEvent('evt_r3', REPEATS, WHO)).toEqual({
      id: 'evt_r3',
      type: 'runaway.tripped',
      at: '2026-11-23T11:00:00.250Z',
      kind: 'repeats',
      action: 'alert',
      keyId: 'key_abc',
      feature: 'summarize',
      org: 'acme',
      team: 'search',
      project: 'web',
      env: 'prod',
      suspendedUntil: null,
      reason: 'key key_abc sent the same prompt 21 times within 5m (limit 20)',
      detail: { promptHash: 'ph_1f2e', count: 21, maxIdentical: 20, windowMs: 300_000 },
    });
  });
});

describe('runawaySlackPayload', () => {
  it('says what the key spent against its baseline and until when it is suspended', () => {
    expect(runawayText(buildRunawayEvent('evt_r1', VELOCITY, WHO))).toBe(
      'Runaway detected on key key_abc (team search, project web, prod): spent $10.50/min,' +
        ' above 10× its baseline $1.00/min — key suspended until 2026-11-23T12:00:00Z',
    );
  });

  it('names the feature and the warmup ceiling when there is no baseline yet', () => {
    const trip: VelocityTrip = {
      ...VELOCITY,
      feature: 'chat',
      action: 'alert',
      untilMs: null,
      detail: {
        ...VELOCITY.detail,
        scope: 'feature',
        currentNanosPerMin: 6_200_000_000,
        baselineNanosPerMin: 500_000_000,
        thresholdNanosPerMin: 5_000_000_000,
        warmingUp: true,
      },
    };
    expect(runawayText(buildRunawayEvent('evt_r4', trip, WHO))).toBe(
      'Runaway detected on feature chat of key key_abc (team search, project web, prod): spent $6.20/min,' +
        ' above $5.00/min, the ceiling while it has no baseline yet — alert only, the key is not suspended',
    );
  });

  it('counts repeated prompts and keeps milliseconds that are not zero', () => {
    const trip: RepeatsTrip = {
      ...REPEATS,
      action: 'suspend',
      untilMs: Date.UTC(2026, 10, 23, 11, 5, 0, 250),
    };
    expect(runawayText(buildRunawayEvent('evt_r5', trip, WHO))).toBe(
      'Runaway detected on feature summarize of key key_abc (team search, project web, prod):' +
        ' sent the same prompt 21 times within 5m (limit 20) — key suspended until 2026-11-23T11:05:00.250Z',
    );
  });

  it('is { text, blocks } with the org and event in the context line, mrkdwn escaped', () => {
    const event = buildRunawayEvent('evt_r1', VELOCITY, { ...WHO, team: 'r&d <core>' });
    expect(runawaySlackPayload(event)).toEqual({
      text:
        'Runaway detected on key key_abc (team r&d <core>, project web, prod): spent $10.50/min,' +
        ' above 10× its baseline $1.00/min — key suspended until 2026-11-23T12:00:00Z',
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text:
              ':rotating_light: Runaway detected on key key_abc (team r&amp;d &lt;core&gt;, project web, prod):' +
              ' spent $10.50/min, above 10× its baseline $1.00/min — key suspended until 2026-11-23T12:00:00Z',
          },
        },
        {
          type: 'context',
          elements: [
            { type: 'mrkdwn', text: 'spend velocity · org acme · event evt_r1 · 2026-11-23T11:00:00.000Z' },
          ],
        },
      ],
    });
  });
});
