import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import type { Amount, BudgetPolicy, WindowSpec } from '../../budget/types.ts';
import { MemoryBudgetCounters } from './budgetCounters.ts';

const T0 = Date.parse('2025-06-10T12:00:00Z');
const MINUTE = 60_000;

function amount(nanos: number, tokens = 0, requests = 1): Amount {
  return { nanos, tokens, requests };
}

const team = policy('team', { team: 'search' }, { usdNanos: 1000 });
const user = policy('user', { user: 'alice' }, { usdNanos: 300 });

function spentOf(counters: MemoryBudgetCounters, p: BudgetPolicy, now = T0) {
  return counters.state(p, now).spent;
}

describe('MemoryBudgetCounters.reserve', () => {
  it('reserves on every line and shows it as in-flight exposure', () => {
    const c = new MemoryBudgetCounters();
    expect(
      c.reserve(
        'r1',
        [
          { policy: team, amount: amount(200, 10) },
          { policy: user, amount: amount(200, 10) },
        ],
        T0,
      ),
    ).toEqual({
      ok: true,
      reservationId: 'r1',
    });
    expect(c.state(team, T0).reserved).toEqual(amount(200, 10));
    expect(c.state(user, T0).reserved).toEqual(amount(200, 10));
    expect(c.state(team, T0).spent).toEqual(amount(0, 0, 0));
    expect(c.openReservations()).toBe(1);
  });

  it('is all-or-none: failing on the second policy leaves the first untouched', () => {
    const c = new MemoryBudgetCounters();
    const outcome = c.reserve(
      'r1',
      [
        { policy: team, amount: amount(400) },
        { policy: user, amount: amount(400) },
      ],
      T0,
    );
    expect(outcome).toEqual({
      ok: false,
      policyId: 'user',
      remaining: { nanos: 300, tokens: null, requests: null },
      resetsAtMs: Date.parse('2025-07-01T00:00:00Z'),
    });
    expect(c.state(team, T0).reserved).toEqual(amount(0, 0, 0));
    expect(c.openReservations()).toBe(0);
    // The id was not consumed.
    expect(c.reserve('r1', [{ policy: team, amount: amount(400) }], T0).ok).toBe(true);
  });

  it('reports the first failing hard policy and remaining = limit - spent - reserved, floored at 0', () => {
    const c = new MemoryBudgetCounters();
    const p = policy('p', {}, { usdNanos: 1000, tokens: 100, requests: 3 });
    c.addSpent(p, amount(600, 50), T0);
    c.reserve('a', [{ policy: p, amount: amount(300, 20) }], T0);
    const outcome = c.reserve('b', [{ policy: p, amount: amount(200, 10) }], T0);
    expect(outcome).toMatchObject({
      ok: false,
      policyId: 'p',
      remaining: { nanos: 100, tokens: 30, requests: 1 },
    });
    // Overspend (usage above the estimate) floors at 0 rather than going negative.
    c.settle('a', amount(900, 80));
    const after = c.reserve('c', [{ policy: p, amount: amount(0, 0) }], T0);
    expect(after).toMatchObject({ ok: false, remaining: { nanos: 0, tokens: 0, requests: 1 } });
  });

  it('checks tokens and requests separately from money', () => {
    const c = new MemoryBudgetCounters();
    const p = policy('p', {}, { requests: 2 });
    expect(c.reserve('a', [{ policy: p, amount: amount(1e9) }], T0).ok).toBe(true);
    expect(c.reserve('b', [{ policy: p, amount: amount(1e9) }], T0).ok).toBe(true);
    expect(c.reserve('c', [{ policy: p, amount: amount(0) }], T0)).toMatchObject({
      ok: false,
      remaining: { nanos: null, tokens: null, requests: 0 },
    });
  });

  it('soft policies never block but are still reserved', () => {
    const c = new MemoryBudgetCounters();
    const soft = policy('soft', {}, { usdNanos: 10 }, { mode: 'soft' });
    expect(
      c.reserve(
        'a',
        [
          { policy: soft, amount: amount(500) },
          { policy: team, amount: amount(500) },
        ],
        T0,
      ).ok,
    ).toBe(true);
    expect(c.state(soft, T0).reserved.nanos).toBe(500);
    c.settle('a', amount(400));
    expect(spentOf(c, soft).nanos).toBe(400);
    expect(c.reserve('b', [{ policy: soft, amount: amount(1) }], T0).ok).toBe(true);
  });

  it('merges lines that name the same policy', () => {
    const c = new MemoryBudgetCounters();
    const outcome = c.reserve(
      'a',
      [
        { policy: user, amount: amount(200) },
        { policy: user, amount: amount(200) },
      ],
      T0,
    );
    expect(outcome).toMatchObject({ ok: false, policyId: 'user' });
    expect(
      c.reserve(
        'b',
        [
          { policy: user, amount: amount(100) },
          { policy: user, amount: amount(100) },
        ],
        T0,
      ).ok,
    ).toBe(true);
    expect(c.state(user, T0).reserved).toEqual(amount(200, 0, 2));
  });

  it('throws on a duplicate open reservation id and on invalid amounts (programming errors)', () => {
    const c = new MemoryBudgetCounters();
    c.reserve('a', [{ policy: team, amount: amount(1) }], T0);
    expect(() => c.reserve('a', [{ policy: team, amount: amount(1) }], T0)).toThrow(/already open/);
    expect(() => c.reserve('b', [{ policy: team, amount: amount(1.5) }], T0)).toThrow(RangeError);
    expect(() => c.reserve('b', [{ policy: team, amount: amount(-1) }], T0)).toThrow(RangeError);
    expect(() => c.settle('a', amount(Number.NaN))).toThrow(RangeError);
    // The failed settle left the reservation open.
    expect(c.openReservations()).toBe(1);
  });
});

describe('MemoryBudgetCounters.settle / release', () => {
  it('settle moves the actual to spent, frees the rest, and is idempotent', () => {
    const c = new MemoryBudgetCounters();
    c.reserve(
      'a',
      [
        { policy: team, amount: amount(500, 40) },
        { policy: user, amount: amount(250, 40) },
      ],
      T0,
    );
    expect(c.settle('a', amount(120, 30))).toBe(true);
    expect(c.settle('a', amount(120, 30))).toBe(false);
    expect(c.release('a')).toBe(false);
    for (const p of [team, user]) {
      expect(c.state(p, T0)).toMatchObject({ spent: amount(120, 30), reserved: amount(0, 0, 0) });
    }
    expect(c.openReservations()).toBe(0);
  });

  it('books actual spend in full even above the reservation', () => {
    const c = new MemoryBudgetCounters();
    c.reserve('a', [{ policy: user, amount: amount(100) }], T0);
    c.settle('a', amount(350));
    expect(spentOf(c, user).nanos).toBe(350);
    expect(c.state(user, T0).reserved.nanos).toBe(0);
  });

  it('release frees without spend and is idempotent', () => {
    const c = new MemoryBudgetCounters();
    c.reserve('a', [{ policy: user, amount: amount(300) }], T0);
    expect(c.reserve('b', [{ policy: user, amount: amount(1) }], T0).ok).toBe(false);
    expect(c.release('a')).toBe(true);
    expect(c.release('a')).toBe(false);
    expect(c.settle('a', amount(1))).toBe(false);
    expect(c.state(user, T0)).toMatchObject({ spent: amount(0, 0, 0), reserved: amount(0, 0, 0) });
    expect(c.reserve('b', [{ policy: user, amount: amount(300) }], T0).ok).toBe(true);
  });

  it('unknown ids are no-ops', () => {
    const c = new MemoryBudgetCounters();
    expect(c.settle('nope', amount(1))).toBe(false);
    expect(c.release('nope')).toBe(false);
  });

  it('books spend in the window of the reservation, not of the settle', () => {
    const c = new MemoryBudgetCounters();
    const justBeforeJuly = Date.parse('2025-06-30T23:59:59Z');
    const july = Date.parse('2025-07-01T00:00:05Z');
    c.reserve('a', [{ policy: user, amount: amount(300) }], justBeforeJuly);
    c.settle('a', amount(300));
    expect(spentOf(c, user, july).nanos).toBe(0);
    expect(spentOf(c, user, justBeforeJuly).nanos).toBe(300);
  });
});

describe('MemoryBudgetCounters windows', () => {
  it('calendar rollover frees the budget', () => {
    const c = new MemoryBudgetCounters();
    c.reserve('a', [{ policy: user, amount: amount(300) }], T0);
    c.settle('a', amount(300));
    expect(c.reserve('b', [{ policy: user, amount: amount(1) }], T0)).toMatchObject({
      ok: false,
      resetsAtMs: Date.parse('2025-07-01T00:00:00Z'),
    });
    const july = Date.parse('2025-07-01T00:00:00Z');
    expect(c.reserve('b', [{ policy: user, amount: amount(300) }], july).ok).toBe(true);
    expect(c.state(user, july).window.id).toBe(String(july));
  });

  it('keeps only a few past calendar windows', () => {
    const c = new MemoryBudgetCounters();
    const daily = policy(
      'daily',
      {},
      { usdNanos: 100 },
      { window: { kind: 'calendar', every: 'day', tz: 'UTC' } },
    );
    const DAY = 86_400_000;
    for (let d = 0; d < 10; d++) c.addSpent(daily, amount(d + 1), T0 + d * DAY);
    expect(spentOf(c, daily, T0 + 9 * DAY).nanos).toBe(10);
    expect(spentOf(c, daily, T0 + 6 * DAY).nanos).toBe(7);
    expect(spentOf(c, daily, T0).nanos).toBe(0); // pruned
  });

  it('a rolling window slides with the clock', () => {
    const c = new MemoryBudgetCounters();
    const rolling: WindowSpec = { kind: 'rolling', sizeMs: 60 * MINUTE, bucketMs: MINUTE };
    const hourly = policy('hourly', {}, { usdNanos: 100 }, { window: rolling });
    let now = T0 + 30_000; // 12:00:30, in the 12:00 bucket
    c.reserve('a', [{ policy: hourly, amount: amount(60) }], now);
    c.settle('a', amount(60));
    now += 10 * MINUTE; // 12:10:30
    c.reserve('b', [{ policy: hourly, amount: amount(40) }], now);
    c.settle('b', amount(40));
    const denied = c.reserve('c', [{ policy: hourly, amount: amount(30) }], now);
    // The 12:00 bucket leaves the window when its last ms (12:00:59.999) is an hour old.
    expect(denied).toMatchObject({ ok: false, remaining: { nanos: 0 }, resetsAtMs: T0 + 61 * MINUTE - 1 });
    now = T0 + 61 * MINUTE - 2;
    expect(spentOf(c, hourly, now).nanos).toBe(100);
    now = T0 + 61 * MINUTE - 1;
    expect(spentOf(c, hourly, now).nanos).toBe(40);
    expect(c.state(hourly, now).window.resetsAtMs).toBe(T0 + 71 * MINUTE - 1);
    expect(c.reserve('c', [{ policy: hourly, amount: amount(60) }], now).ok).toBe(true);
    expect(c.reserve('d', [{ policy: hourly, amount: amount(1) }], now)).toMatchObject({ ok: false });
    // Nothing settled in the window any more: only the in-flight reservation blocks, no reset time.
    now = T0 + 200 * MINUTE;
    expect(c.reserve('d', [{ policy: hourly, amount: amount(41) }], now)).toMatchObject({
      ok: false,
      resetsAtMs: null,
    });
  });

  it('a policy whose window changed starts fresh; a limit change keeps spend', () => {
    const c = new MemoryBudgetCounters();
    c.addSpent(user, amount(250), T0);
    const raised = { ...user, limit: { ...user.limit, usdNanos: 1000 } };
    expect(spentOf(c, raised).nanos).toBe(250);
    const weekly = { ...user, window: { kind: 'calendar', every: 'week', tz: 'UTC' } as const };
    expect(spentOf(c, weekly).nanos).toBe(0);
  });

  it('addSpent rebuilds state from ledger rows by their start time', () => {
    const c = new MemoryBudgetCounters();
    c.addSpent(team, amount(100, 5), Date.parse('2025-05-31T23:59:59Z'));
    c.addSpent(team, amount(200, 5), Date.parse('2025-06-01T00:00:00Z'));
    c.addSpent(team, amount(300, 5), T0);
    expect(spentOf(c, team)).toEqual(amount(500, 10, 2));
  });

  it('lists reservations opened before a cutoff (lease sweep)', () => {
    const c = new MemoryBudgetCounters();
    c.reserve('old', [{ policy: team, amount: amount(1) }], T0);
    c.reserve('new', [{ policy: team, amount: amount(1) }], T0 + MINUTE);
    expect(c.reservationsOpenedBefore(T0 + 1)).toEqual(['old']);
  });
});
