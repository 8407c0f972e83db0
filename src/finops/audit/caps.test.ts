import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import { MemoryBudgetCounters } from '../../store/memory/budgetCounters.ts';
import { checkCapsHeld } from './caps.ts';
import { checkCountersMatchLedger } from './counters.ts';
import { spendByPolicy } from './replay.ts';
import { checkReservations } from './reservations.ts';
import { callRow } from './testRows.ts';

const at = (day: number, h: number, m = 0) => Date.UTC(2026, 0, day, h, m);
const DAILY = { kind: 'calendar', every: 'day', tz: 'UTC' } as const;
const HOURLY_ROLLING = { kind: 'rolling', sizeMs: 3_600_000, bucketMs: 60_000 } as const;

describe('checkCapsHeld', () => {
  const daily = policy('search-daily', { team: 'search' }, { usdNanos: 2_500 }, { window: DAILY });
  const rows = [
    callRow({ callId: 'a', tsStart: at(15, 10) }),
    callRow({ callId: 'b', tsStart: at(15, 11) }),
    callRow({ callId: 'other-team', team: 'support', tsStart: at(15, 11, 30) }),
    callRow({ callId: 'c', tsStart: at(15, 12) }),
    callRow({ callId: 'next-day', tsStart: at(16, 9) }),
  ];

  it('names the call that took a calendar window over its cap', () => {
    const check = checkCapsHeld([daily], spendByPolicy([daily], rows), at(1, 0), at(31, 0));
    expect(check.ok).toBe(false);
    expect(check.items).toEqual([
      {
        kind: 'cap_exceeded',
        policyId: 'search-daily',
        unit: 'usd',
        limit: '0.0000025',
        spent: '0.000003',
        windowStart: '2026-01-15T00:00:00.000Z',
        windowEnd: '2026-01-16T00:00:00.000Z',
        callId: 'c',
        attempt: 1,
      },
    ]);
  });

  it('ignores windows outside the audited range and soft policies', () => {
    expect(checkCapsHeld([daily], spendByPolicy([daily], rows), at(16, 0), at(17, 0)).ok).toBe(true);
    const soft = { ...daily, mode: 'soft' as const };
    expect(checkCapsHeld([soft], spendByPolicy([soft], rows), at(1, 0), at(31, 0)).items).toEqual([]);
  });

  it('slides a rolling window over every row time, reporting each crossing once', () => {
    const rolling = policy('search-hour', { team: 'search' }, { requests: 2 }, { window: HOURLY_ROLLING });
    const timeline = [
      callRow({ callId: 'r1', tsStart: at(15, 10, 0) }),
      callRow({ callId: 'r2', tsStart: at(15, 10, 30) }),
      callRow({ callId: 'r3', tsStart: at(15, 10, 59) }),
      callRow({ callId: 'r4', tsStart: at(15, 11, 5) }),
      callRow({ callId: 'r5', tsStart: at(15, 12, 30) }),
      callRow({ callId: 'r6', tsStart: at(15, 12, 31) }),
      callRow({ callId: 'r7', tsStart: at(15, 12, 32) }),
    ];
    const check = checkCapsHeld([rolling], spendByPolicy([rolling], timeline), at(1, 0), at(31, 0));
    // The window at 10:59 is (09:59, 10:59]; like the live counters it counts whole 1-minute
    // buckets, so it starts at the 09:59 bucket. r4 (11:05) is still over: one crossing, one item.
    expect(check.items.map((i) => [i.callId, i.unit, i.spent, i.limit, i.windowStart, i.windowEnd])).toEqual([
      ['r3', 'requests', 3, 2, '2026-01-15T09:59:00.000Z', '2026-01-15T10:59:00.000Z'],
      ['r7', 'requests', 3, 2, '2026-01-15T11:32:00.000Z', '2026-01-15T12:32:00.000Z'],
    ]);
  });

  it('passes when every window stays within its caps', () => {
    const roomy = policy('roomy', { team: 'search' }, { usdNanos: 3_000, tokens: 450 }, { window: DAILY });
    const check = checkCapsHeld([roomy], spendByPolicy([roomy], rows), at(1, 0), at(31, 0));
    expect(check).toMatchObject({ ok: true, items: [] });
  });
});

describe('checkCountersMatchLedger', () => {
  const monthly = policy('search-monthly', { team: 'search' }, { usdNanos: 1_000_000 });
  const rows = [
    callRow({ callId: 'a', tsStart: at(14, 10) }),
    callRow({ callId: 'b', tsStart: at(15, 10), cost: 2_500, outputTokens: 10 }),
    callRow({ callId: 'december', tsStart: Date.UTC(2025, 11, 31, 23) }),
  ];

  it('passes when the counters hold exactly the current window of the ledger, then names the policy', () => {
    const counters = new MemoryBudgetCounters();
    for (const r of rows)
      counters.addSpent(
        monthly,
        { nanos: r.cost, tokens: r.inputTokens + r.outputTokens, requests: 1 },
        r.tsStart,
      );
    const now = at(20, 0);
    const spend = spendByPolicy([monthly], rows);
    const state = (p: typeof monthly) => counters.state(p, now);
    expect(checkCountersMatchLedger([monthly], spend, state, now).ok).toBe(true);

    counters.addSpent(monthly, { nanos: 7, tokens: 0, requests: 0 }, now);
    const check = checkCountersMatchLedger([monthly], spend, state, now);
    expect(check.ok).toBe(false);
    expect(check.items).toEqual([
      {
        kind: 'counter_mismatch',
        policyId: 'search-monthly',
        windowStart: '2026-01-01T00:00:00.000Z',
        windowEnd: '2026-02-01T00:00:00.000Z',
        counter: { usd: '0.000003507', nanos: 3_507, tokens: 260, requests: 2 },
        ledger: { usd: '0.0000035', nanos: 3_500, tokens: 260, requests: 2 },
      },
    ]);
  });
  it('lets a call admitted across the window edge count on either side, and nothing more', () => {
    // Started on Dec 31, its retry reserved (and booked) after midnight: in January's window live,
    // in December's after a restart replays it by ts_start.
    const across = callRow({
      callId: 'across',
      tsStart: Date.UTC(2025, 11, 31, 23, 59, 59),
      tsEnd: at(1, 0, 1),
      cost: 40,
    });
    const now = at(20, 0);
    const spend = spendByPolicy([monthly], [...rows, across]);
    const counted = (extra: number) => {
      const counters = new MemoryBudgetCounters();
      for (const r of rows.filter((r) => r.callId !== 'december'))
        counters.addSpent(
          monthly,
          { nanos: r.cost, tokens: r.inputTokens + r.outputTokens, requests: 1 },
          r.tsStart,
        );
      if (extra > 0) counters.addSpent(monthly, { nanos: extra, tokens: 150, requests: 1 }, at(1, 0, 1));
      return checkCountersMatchLedger([monthly], spend, (p) => counters.state(p, now), now);
    };
    expect(counted(0).ok).toBe(true);
    expect(counted(40).ok).toBe(true);
    expect(counted(41).ok).toBe(false);
  });
});

describe('checkReservations', () => {
  const now = at(15, 12);
  it('names pending rows past their lease and a count that disagrees with the counters', () => {
    const alive = callRow({ callId: 'alive', status: 'pending', leaseUntil: now + 1 });
    const dead = callRow({ callId: 'dead', status: 'pending', leaseUntil: now - 1, reserved: 42 });
    expect(checkReservations([alive], 1, now).ok).toBe(true);
    const check = checkReservations([alive, dead], 1, now);
    expect(check.items).toEqual([
      {
        kind: 'expired_lease',
        callId: 'dead',
        attempt: 1,
        leaseUntil: '2026-01-15T11:59:59.999Z',
        reserved: { usd: '0.000000042', nanos: 42 },
      },
      {
        kind: 'open_reservations_mismatch',
        openReservations: 1,
        pendingRows: 2,
        pendingCallIds: ['alive', 'dead'],
      },
    ]);
    expect(checkReservations([], 1, now).summary).toBe(
      '1 open reservation in the counters but 0 pending rows in the ledger',
    );
  });
});
