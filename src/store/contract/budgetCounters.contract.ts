import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import type { Amount, BudgetPolicy, ReserveLine, WindowSpec } from '../../budget/types.ts';
import { MAX_USD_NANOS } from '../../money.ts';
import type { AsyncBudgetCounters } from '../redis/types.ts';

/**
 * The contract every budget counter store keeps (DESIGN.md: "tests can run every implementation
 * through the same contract test suite"). Run it with a factory per store: memory through
 * `fromSync`, Redis with two clients.
 */

/** Two handles on one store, as two replicas see it (the same object for an in-process store). */
export interface CountersPair {
  a: AsyncBudgetCounters;
  b: AsyncBudgetCounters;
}

export interface BudgetCountersFactory {
  /** A fresh, empty store whose reservations have this lease. Called once per test. */
  create(leaseMs: number): Promise<CountersPair>;
}

const T0 = Date.parse('2025-06-10T12:00:00Z');
const MINUTE = 60_000;
const LEASE_MS = 15 * MINUTE;
const JULY = Date.parse('2025-07-01T00:00:00Z');

function amount(nanos: number, tokens = 0, requests = 1): Amount {
  return { nanos, tokens, requests };
}

const NOTHING = amount(0, 0, 0);
const team = policy('team', { team: 'search' }, { usdNanos: 1000 });
const user = policy('user', { user: 'alice' }, { usdNanos: 300 });

function lines(...pairs: Array<[BudgetPolicy, Amount]>): ReserveLine[] {
  return pairs.map(([p, a]) => ({ policy: p, amount: a }));
}

export function describeBudgetCountersContract(name: string, factory: BudgetCountersFactory): void {
  const fresh = async (leaseMs = LEASE_MS) => factory.create(leaseMs);

  describe(`${name}: budget counters contract`, () => {
    describe('reserve', () => {
      it('reserves on every line; state = spent + reserved, seen by every replica', async () => {
        const { a, b } = await fresh();
        await a.addSpent(team, amount(100, 7), T0);
        const outcome = await a.reserve('r1', lines([team, amount(200, 10)], [user, amount(250, 10)]), T0);
        expect(outcome).toEqual({ ok: true, reservationId: 'r1' });
        for (const c of [a, b]) {
          expect(await c.state(team, T0)).toEqual({
            policyId: 'team',
            window: {
              id: String(Date.parse('2025-06-01T00:00:00Z')),
              startMs: Date.parse('2025-06-01T00:00:00Z'),
              endMs: JULY,
              resetsAtMs: JULY,
            },
            spent: amount(100, 7),
            reserved: amount(200, 10),
          });
          expect((await c.state(user, T0)).reserved).toEqual(amount(250, 10));
        }
        expect(await b.openReservations()).toBe(1);
      });

      it('is all-or-none: failing on the second policy leaves the first untouched', async () => {
        const { a, b } = await fresh();
        const outcome = await a.reserve('r1', lines([team, amount(400)], [user, amount(400)]), T0);
        expect(outcome).toEqual({
          ok: false,
          policyId: 'user',
          remaining: { nanos: 300, tokens: null, requests: null },
          resetsAtMs: JULY,
        });
        expect((await b.state(team, T0)).reserved).toEqual(NOTHING);
        expect(await b.openReservations()).toBe(0);
        // The id was not consumed.
        expect((await b.reserve('r1', lines([team, amount(400)]), T0)).ok).toBe(true);
      });

      it('reports the first failing hard policy; remaining = limit - spent - reserved, floored at 0', async () => {
        const { a } = await fresh();
        const p = policy('p', {}, { usdNanos: 1000, tokens: 100, requests: 3 });
        await a.addSpent(p, amount(600, 50), T0);
        await a.reserve('x', lines([p, amount(300, 20)]), T0);
        expect(await a.reserve('y', lines([p, amount(200, 10)]), T0)).toEqual({
          ok: false,
          policyId: 'p',
          remaining: { nanos: 100, tokens: 30, requests: 1 },
          resetsAtMs: JULY,
        });
        // Usage above the estimate overshoots; remaining floors at 0 instead of going negative.
        await a.settle('x', amount(900, 80));
        expect(await a.reserve('z', lines([p, amount(0, 0)]), T0)).toMatchObject({
          ok: false,
          remaining: { nanos: 0, tokens: 0, requests: 1 },
        });
      });

      it('checks tokens and requests separately from money', async () => {
        const { a } = await fresh();
        const p = policy('p', {}, { requests: 2 });
        expect((await a.reserve('x', lines([p, amount(1e9)]), T0)).ok).toBe(true);
        expect((await a.reserve('y', lines([p, amount(1e9)]), T0)).ok).toBe(true);
        expect(await a.reserve('z', lines([p, amount(0)]), T0)).toMatchObject({
          ok: false,
          remaining: { nanos: null, tokens: null, requests: 0 },
        });
      });

      it('soft lines never block, but are reserved and settled like the others', async () => {
        const { a } = await fresh();
        const soft = policy('soft', {}, { usdNanos: 10, tokens: 1, requests: 1 }, { mode: 'soft' });
        expect((await a.reserve('x', lines([soft, amount(500, 5)], [team, amount(500)]), T0)).ok).toBe(true);
        expect((await a.state(soft, T0)).reserved).toEqual(amount(500, 5));
        await a.settle('x', amount(400, 3));
        expect((await a.state(soft, T0)).spent).toEqual(amount(400, 3));
        expect((await a.reserve('y', lines([soft, amount(10_000, 10)]), T0)).ok).toBe(true);
        // A soft line does not hide a hard one that does not fit.
        expect(await a.reserve('z', lines([soft, amount(1)], [user, amount(301)]), T0)).toMatchObject({
          ok: false,
          policyId: 'user',
        });
      });

      it('merges lines that name the same policy', async () => {
        const { a } = await fresh();
        expect(await a.reserve('x', lines([user, amount(200)], [user, amount(200)]), T0)).toMatchObject({
          ok: false,
          policyId: 'user',
        });
        expect((await a.reserve('y', lines([user, amount(100)], [user, amount(100)]), T0)).ok).toBe(true);
        expect((await a.state(user, T0)).reserved).toEqual(amount(200, 0, 2));
      });

      it('a reservation under no policy is open and closes once', async () => {
        const { a } = await fresh();
        expect(await a.reserve('free', [], T0)).toEqual({ ok: true, reservationId: 'free' });
        expect(await a.openReservations()).toBe(1);
        expect(await a.settle('free', amount(5))).toBe(true);
        expect(await a.settle('free', amount(5))).toBe(false);
        expect(await a.openReservations()).toBe(0);
      });

      it('rejects a reused open id and invalid amounts (programming errors)', async () => {
        const { a } = await fresh();
        await a.reserve('x', lines([team, amount(1)]), T0);
        await expect(a.reserve('x', lines([team, amount(1)]), T0)).rejects.toThrow(
          'reservation id already open: x',
        );
        await expect(a.reserve('y', lines([team, amount(1.5)]), T0)).rejects.toThrow(RangeError);
        await expect(a.reserve('y', lines([team, amount(-1)]), T0)).rejects.toThrow(RangeError);
        await expect(a.settle('x', amount(Number.NaN))).rejects.toThrow(RangeError);
        await expect(a.addSpent(team, amount(0.5), T0)).rejects.toThrow(RangeError);
        // The failed settle left the reservation open.
        expect(await a.openReservations()).toBe(1);
        expect((await a.state(team, T0)).reserved).toEqual(amount(1));
      });

      it('keeps money exact up to the $9M counter limit', async () => {
        const { a } = await fresh();
        const big = policy('big', {}, { usdNanos: MAX_USD_NANOS });
        const half = MAX_USD_NANOS / 2 + 1; // 4_500_000_000_000_001: 16 digits
        expect((await a.reserve('x', lines([big, amount(half)]), T0)).ok).toBe(true);
        expect(await a.reserve('y', lines([big, amount(half - 1)]), T0)).toMatchObject({
          ok: false,
          remaining: { nanos: half - 2 },
        });
        expect((await a.reserve('y', lines([big, amount(half - 2)]), T0)).ok).toBe(true);
        await a.settle('x', amount(half));
        await a.settle('y', amount(half - 3));
        expect((await a.state(big, T0)).spent.nanos).toBe(MAX_USD_NANOS - 1);
        expect((await a.state(big, T0)).reserved.nanos).toBe(0);
      });
    });

    describe('settle and release', () => {
      it('settle moves the actual to spent, frees the rest, once, from any replica', async () => {
        const { a, b } = await fresh();
        await a.reserve('x', lines([team, amount(500, 40)], [user, amount(250, 40)]), T0);
        expect(await b.settle('x', amount(120, 30))).toBe(true);
        expect(await a.settle('x', amount(120, 30))).toBe(false);
        expect(await a.release('x')).toBe(false);
        for (const p of [team, user]) {
          const state = await a.state(p, T0);
          expect([state.spent, state.reserved]).toEqual([amount(120, 30), NOTHING]);
        }
        expect(await a.openReservations()).toBe(0);
      });

      it('two settles racing on one id book once', async () => {
        const { a, b } = await fresh();
        await a.reserve('x', lines([team, amount(500)]), T0);
        const results = await Promise.all([a.settle('x', amount(100)), b.settle('x', amount(100))]);
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await a.state(team, T0)).spent).toEqual(amount(100));
      });

      it('books the actual in full even above the reservation', async () => {
        const { a } = await fresh();
        await a.reserve('x', lines([user, amount(100)]), T0);
        await a.settle('x', amount(350, 9));
        const state = await a.state(user, T0);
        expect([state.spent, state.reserved]).toEqual([amount(350, 9), NOTHING]);
      });

      it('release frees without spend and is idempotent', async () => {
        const { a, b } = await fresh();
        await a.reserve('x', lines([user, amount(300)]), T0);
        expect((await b.reserve('y', lines([user, amount(1)]), T0)).ok).toBe(false);
        expect(await b.release('x')).toBe(true);
        expect(await a.release('x')).toBe(false);
        expect(await a.settle('x', amount(1))).toBe(false);
        const state = await a.state(user, T0);
        expect([state.spent, state.reserved]).toEqual([NOTHING, NOTHING]);
        expect((await b.reserve('y', lines([user, amount(300)]), T0)).ok).toBe(true);
      });

      it('unknown ids are no-ops', async () => {
        const { a } = await fresh();
        expect(await a.settle('nope', amount(1))).toBe(false);
        expect(await a.release('nope')).toBe(false);
      });

      it('books spend in the window of the reservation, not of the settle', async () => {
        const { a } = await fresh();
        const justBeforeJuly = JULY - 1000;
        await a.reserve('x', lines([user, amount(300)]), justBeforeJuly);
        await a.settle('x', amount(300));
        expect((await a.state(user, JULY + 5000)).spent.nanos).toBe(0);
        expect((await a.state(user, justBeforeJuly)).spent.nanos).toBe(300);
      });
    });

    describe('windows', () => {
      it('a calendar day resets at local midnight in its time zone', async () => {
        const { a } = await fresh();
        const berlin = policy(
          'berlin',
          {},
          { usdNanos: 100 },
          { window: { kind: 'calendar', every: 'day', tz: 'Europe/Berlin' } },
        );
        // 2025-07-01 00:00 in Berlin (CEST, UTC+2) is 2025-06-30 22:00 UTC.
        const midnight = Date.parse('2025-06-30T22:00:00Z');
        await a.reserve('x', lines([berlin, amount(100)]), midnight - 1);
        await a.settle('x', amount(100));
        expect(await a.reserve('y', lines([berlin, amount(1)]), midnight - 1)).toEqual({
          ok: false,
          policyId: 'berlin',
          remaining: { nanos: 0, tokens: null, requests: null },
          resetsAtMs: midnight,
        });
        expect((await a.reserve('y', lines([berlin, amount(100)]), midnight)).ok).toBe(true);
        expect(await a.state(berlin, midnight)).toEqual({
          policyId: 'berlin',
          window: {
            id: String(midnight),
            startMs: midnight,
            endMs: midnight + 86_400_000,
            resetsAtMs: midnight + 86_400_000,
          },
          spent: NOTHING,
          reserved: amount(100),
        });
      });

      it('a calendar day across a DST change is 23 hours long', async () => {
        const { a } = await fresh();
        const ny = policy(
          'ny',
          {},
          { usdNanos: 100 },
          { window: { kind: 'calendar', every: 'day', tz: 'America/New_York' } },
        );
        const start = Date.parse('2025-03-09T05:00:00Z'); // midnight EST
        const end = Date.parse('2025-03-10T04:00:00Z'); // midnight EDT
        await a.addSpent(ny, amount(60), start);
        await a.addSpent(ny, amount(30), end - 1);
        await a.addSpent(ny, amount(5), end);
        expect((await a.state(ny, end - 1)).window).toMatchObject({ startMs: start, endMs: end });
        expect((await a.state(ny, end - 1)).spent.nanos).toBe(90);
        expect((await a.state(ny, end)).spent.nanos).toBe(5);
      });

      it('a rolling window slides with the clock', async () => {
        const { a } = await fresh();
        const rolling: WindowSpec = { kind: 'rolling', sizeMs: 60 * MINUTE, bucketMs: MINUTE };
        const hourly = policy('hourly', {}, { usdNanos: 100 }, { window: rolling });
        let now = T0 + 30_000; // 12:00:30, in the 12:00 bucket
        await a.reserve('x', lines([hourly, amount(60)]), now);
        await a.settle('x', amount(60));
        now += 10 * MINUTE; // 12:10:30
        await a.reserve('y', lines([hourly, amount(40)]), now);
        await a.settle('y', amount(40));
        // The 12:00 bucket leaves the window when its last ms (12:00:59.999) is an hour old.
        expect(await a.reserve('z', lines([hourly, amount(30)]), now)).toEqual({
          ok: false,
          policyId: 'hourly',
          remaining: { nanos: 0, tokens: null, requests: null },
          resetsAtMs: T0 + 61 * MINUTE - 1,
        });
        now = T0 + 61 * MINUTE - 2;
        expect((await a.state(hourly, now)).spent.nanos).toBe(100);
        now = T0 + 61 * MINUTE - 1;
        expect((await a.state(hourly, now)).spent).toEqual(amount(40));
        expect((await a.state(hourly, now)).window).toEqual({
          id: 'rolling',
          startMs: T0 + MINUTE,
          endMs: now,
          resetsAtMs: T0 + 71 * MINUTE - 1,
        });
        expect((await a.reserve('z', lines([hourly, amount(60)]), now)).ok).toBe(true);
        expect((await a.reserve('w', lines([hourly, amount(1)]), now)).ok).toBe(false);
        // Nothing settled in the window any more: only the in-flight reservation blocks, no reset time.
        now = T0 + 200 * MINUTE;
        expect(await a.reserve('w', lines([hourly, amount(41)]), now)).toEqual({
          ok: false,
          policyId: 'hourly',
          remaining: { nanos: 40, tokens: null, requests: null },
          resetsAtMs: null,
        });
      });

      it('a policy whose window changed starts fresh; a limit change keeps spend', async () => {
        const { a } = await fresh();
        await a.addSpent(user, amount(250), T0);
        const raised = { ...user, limit: { ...user.limit, usdNanos: 1000 } };
        expect((await a.state(raised, T0)).spent.nanos).toBe(250);
        const weekly: BudgetPolicy = { ...user, window: { kind: 'calendar', every: 'week', tz: 'UTC' } };
        expect((await a.state(weekly, T0)).spent.nanos).toBe(0);
      });

      it('addSpent replays ledger rows into the windows of their start times', async () => {
        const { a, b } = await fresh();
        await a.addSpent(team, amount(100, 5), Date.parse('2025-05-31T23:59:59Z'));
        await b.addSpent(team, amount(200, 5), Date.parse('2025-06-01T00:00:00Z'));
        await a.addSpent(team, amount(300, 5), T0);
        expect((await b.state(team, T0)).spent).toEqual(amount(500, 10, 2));
        expect((await b.state(team, Date.parse('2025-05-15T00:00:00Z'))).spent).toEqual(amount(100, 5));
        expect(await a.reserve('x', lines([team, amount(501)]), T0)).toMatchObject({
          ok: false,
          remaining: { nanos: 500 },
        });
      });
    });

    describe('lease reaper', () => {
      it('settles an expired lease at its reserved amount, exactly once across replicas', async () => {
        const { a, b } = await fresh(MINUTE);
        await a.reserve('old', lines([team, amount(500, 40)], [user, amount(200, 10)]), T0);
        await a.reserve('young', lines([team, amount(100)]), T0 + 30_000);
        expect(await a.reap(T0 + MINUTE - 1)).toEqual([]);

        const [fromA, fromB] = await Promise.all([a.reap(T0 + MINUTE), b.reap(T0 + MINUTE)]);
        expect([...fromA, ...fromB]).toEqual([
          {
            reservationId: 'old',
            reservedAtMs: T0,
            leaseExpiredAtMs: T0 + MINUTE,
            lines: [
              { policyId: 'team', amount: amount(500, 40) },
              { policyId: 'user', amount: amount(200, 10) },
            ],
          },
        ]);
        expect(await a.reap(T0 + MINUTE)).toEqual([]);
        expect(await a.settle('old', amount(1))).toBe(false);
        expect(await a.state(team, T0 + MINUTE)).toMatchObject({
          spent: amount(500, 40),
          reserved: amount(100),
        });
        expect((await a.state(user, T0 + MINUTE)).spent).toEqual(amount(200, 10));
        expect(await a.openReservations()).toBe(1);
        // The young one is untouched until its own lease runs out.
        expect(await a.settle('young', amount(60))).toBe(true);
        expect(await b.reap(T0 + 10 * MINUTE)).toEqual([]);
        expect((await a.state(team, T0 + MINUTE)).spent).toEqual(amount(560, 40, 2));
      });

      it('reaps in batches of at most `limit`', async () => {
        const { a } = await fresh(MINUTE);
        for (let i = 0; i < 5; i++) await a.reserve(`r${i}`, lines([team, amount(10)]), T0);
        expect((await a.reap(T0 + MINUTE, 3)).length).toBe(3);
        expect((await a.reap(T0 + MINUTE, 3)).length).toBe(2);
        expect((await a.state(team, T0)).spent).toEqual(amount(50, 0, 5));
        expect(await a.openReservations()).toBe(0);
      });
    });

    describe('concurrency', () => {
      it('1,000 concurrent reserves from two replicas never over-reserve; spent equals the settled sum', async () => {
        const { a, b } = await fresh();
        const org = policy('org', {}, { usdNanos: 60_000, requests: 150 });
        const teams = [
          policy('team-a', { team: 'a' }, { usdNanos: 35_000 }),
          policy('team-b', { team: 'b' }, { usdNanos: 35_000 }),
        ];
        const random = seededRandom(7);
        const MAX_AMOUNT = 1_000;
        const calls = Array.from({ length: 1_000 }, (_, i) => ({
          id: `c${i}`,
          replica: i % 2 === 0 ? a : b,
          team: teams[Math.floor(random() * 2)] ?? org,
          amount: amount(1 + Math.floor(random() * MAX_AMOUNT), 1 + Math.floor(random() * 100)),
        }));
        const outcomes = await Promise.all(
          calls.map((c) => c.replica.reserve(c.id, lines([org, c.amount], [c.team, c.amount]), T0)),
        );
        const admitted = calls.filter((_, i) => outcomes[i]?.ok);
        const denied = calls.length - admitted.length;
        expect(denied).toBeGreaterThan(0);
        expect(admitted.length).toBeGreaterThan(0);

        // Everything admitted is open at once: the reservations themselves respect every cap.
        for (const p of [org, ...teams]) {
          const mine = admitted.filter((c) => p === org || c.team === p);
          const held = sum(mine.map((c) => c.amount));
          const state = await b.state(p, T0);
          expect(state.reserved).toEqual(held);
          expect(state.spent).toEqual(NOTHING);
          expect(held.nanos).toBeLessThanOrEqual(p.limit.usdNanos ?? Number.POSITIVE_INFINITY);
        }
        expect(admitted.length).toBeLessThanOrEqual(150);
        // A denial means the call did not fit what was left then, which only shrinks: so nothing
        // that fit was refused, or some binding cap is nearly full.
        const orgLeft = 60_000 - sum(admitted.map((c) => c.amount)).nanos;
        const teamsLeft = teams.map(
          (t) => 35_000 - sum(admitted.filter((c) => c.team === t).map((c) => c.amount)).nanos,
        );
        const requestsFull = admitted.length === 150;
        expect(requestsFull || Math.min(orgLeft, ...teamsLeft) < MAX_AMOUNT).toBe(true);

        const actuals = admitted.map((c) => ({
          call: c,
          actual: amount(Math.floor(random() * (c.amount.nanos + 1)), c.amount.tokens, 1),
        }));
        const closed = await Promise.all(
          // Settled from the other replica than reserved: reservations are shared.
          actuals.map(({ call, actual }) => (call.replica === a ? b : a).settle(call.id, actual)),
        );
        expect(closed.every(Boolean)).toBe(true);
        for (const p of [org, ...teams]) {
          const mine = actuals.filter(({ call }) => p === org || call.team === p);
          const state = await a.state(p, T0);
          expect(state.spent).toEqual(sum(mine.map((m) => m.actual)));
          expect(state.reserved).toEqual(NOTHING);
          expect(state.spent.nanos).toBeLessThanOrEqual(p.limit.usdNanos ?? Number.POSITIVE_INFINITY);
        }
        expect(await a.openReservations()).toBe(0);
      });
    });
  });
}

function sum(amounts: Amount[]): Amount {
  const total = amount(0, 0, 0);
  for (const x of amounts) {
    total.nanos += x.nanos;
    total.tokens += x.tokens;
    total.requests += x.requests;
  }
  return total;
}

/** mulberry32: a reproducible stream in [0, 1), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
