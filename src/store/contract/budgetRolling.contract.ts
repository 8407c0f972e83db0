import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import type { Amount, BudgetPolicy, ReserveLine, WindowSpec } from '../../budget/types.ts';
import { MemoryBudgetCounters } from '../memory/budgetCounters.ts';
import type { AsyncBudgetCounters } from '../redis/types.ts';
import { type BudgetCountersFactory, seededRandom } from './budgetCounters.contract.ts';

/**
 * Rolling windows through time, against the in-memory counters as the reference: a store that
 * keeps running sums (Redis) must give exactly what summing every bucket gives, whichever way
 * the clock moved since the last call.
 */

const T0 = Date.parse('2025-06-10T12:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const HOURLY: WindowSpec = { kind: 'rolling', sizeMs: HOUR, bucketMs: MINUTE };

function amount(nanos: number, tokens = 0, requests = 1): Amount {
  return { nanos, tokens, requests };
}

function lines(...pairs: Array<[BudgetPolicy, Amount]>): ReserveLine[] {
  return pairs.map(([p, a]) => ({ policy: p, amount: a }));
}

/** A store and the in-memory reference, driven by the same calls. */
class Twin {
  readonly reference = new MemoryBudgetCounters();

  constructor(
    readonly a: AsyncBudgetCounters,
    readonly b: AsyncBudgetCounters,
  ) {}

  async reserve(via: AsyncBudgetCounters, id: string, reserve: ReserveLine[], nowMs: number) {
    const outcome = await via.reserve(id, reserve, nowMs);
    expect(outcome).toEqual(this.reference.reserve(id, reserve, nowMs));
    return outcome.ok;
  }

  async settle(via: AsyncBudgetCounters, id: string, actual: Amount) {
    expect(await via.settle(id, actual)).toBe(this.reference.settle(id, actual));
  }

  async addSpent(via: AsyncBudgetCounters, p: BudgetPolicy, spend: Amount, atMs: number) {
    await via.addSpent(p, spend, atMs);
    this.reference.addSpent(p, spend, atMs);
  }

  /** Both replicas' view equals the reference's; returns it. */
  async expectState(p: BudgetPolicy, nowMs: number, via: AsyncBudgetCounters = this.a) {
    const expected = this.reference.state(p, nowMs);
    expect(await via.state(p, nowMs)).toEqual(expected);
    return expected;
  }
}

export function describeRollingWindowContract(name: string, factory: BudgetCountersFactory): void {
  const fresh = async () => {
    const { a, b } = await factory.create(15 * MINUTE);
    return new Twin(a, b);
  };

  describe(`${name}: rolling windows through time`, () => {
    it('advancing minute by minute with spend in some buckets: equal to the in-memory counters at every step', async () => {
      const twin = await fresh();
      const hourly = policy('hourly', {}, { usdNanos: 1_200, tokens: 250 }, { window: HOURLY });
      const quarter = policy(
        'quarter',
        {},
        { usdNanos: 900 },
        { window: { kind: 'rolling', sizeMs: 15 * MINUTE, bucketMs: 5 * MINUTE } },
      );
      const random = seededRandom(11);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] ?? (xs[0] as T);
      // Steps that land on bucket edges: the first and the last ms of a bucket matter.
      const steps = [MINUTE, MINUTE, 30_000, 1, MINUTE - 1, 2 * MINUTE, 7 * MINUTE];
      const open: Array<{ id: string; worst: Amount }> = [];
      let now = T0 + 17_000;
      let admitted = 0;
      let refused = 0;
      let nonZero = 0;
      for (let step = 0; step < 240; step++) {
        const [self, other] = step % 2 === 0 ? [twin.a, twin.b] : [twin.b, twin.a];
        if (random() < 0.45) {
          const worst = amount(1 + Math.floor(random() * 120), Math.floor(random() * 30));
          const id = `s${step}`;
          const ok = await twin.reserve(self, id, lines([hourly, worst], [quarter, worst]), now);
          if (ok) {
            open.push({ id, worst });
            admitted++;
          } else refused++;
        }
        // Settled later, from the other replica; some long after their bucket left the window.
        while (open.length > 0 && random() < 0.4) {
          const held = open.shift();
          if (!held) break;
          const actual = amount(Math.floor(random() * (held.worst.nanos + 20)), held.worst.tokens);
          await twin.settle(other, held.id, actual);
        }
        if (random() < 0.1)
          await twin.addSpent(self, hourly, amount(7, 1), now - Math.floor(random() * HOUR));
        // The other replica's clock runs a little behind, across bucket edges.
        for (const p of [hourly, quarter]) {
          const state = await twin.expectState(p, now, self);
          if (state.spent.nanos > 0) nonZero++;
          await twin.expectState(p, now - 1_500, other);
        }
        now += pick(steps);
      }
      // The run went through every case it means to check.
      expect([admitted > 50, refused > 5, nonZero > 200]).toEqual([true, true, true]);
    });

    it('a long idle gap (more than a window) reads the window afresh', async () => {
      const twin = await fresh();
      const hourly = policy('hourly', {}, { usdNanos: 1_000 }, { window: HOURLY });
      for (let m = 0; m < 60; m += 6) await twin.addSpent(twin.a, hourly, amount(10 + m, 1), T0 + m * MINUTE);
      const full = await twin.expectState(hourly, T0 + 59 * MINUTE);
      expect(full.spent).toEqual(amount(370, 10, 10));
      // Idle for 2h30: nothing left in the window, nothing to free.
      const later = T0 + 150 * MINUTE;
      expect(await twin.expectState(hourly, later)).toMatchObject({
        spent: amount(0, 0, 0),
        window: { resetsAtMs: null },
      });
      await twin.addSpent(twin.b, hourly, amount(5), later);
      expect((await twin.expectState(hourly, later)).spent).toEqual(amount(5));
      // Gaps either side of half a window (where a running sum is rebuilt instead of moved).
      await twin.addSpent(twin.a, hourly, amount(9), later + 20 * MINUTE);
      for (const gap of [29, 31, 45, 59, 60, 61]) {
        await twin.expectState(hourly, later);
        await twin.expectState(hourly, later + gap * MINUTE);
        await twin.expectState(hourly, later + gap * MINUTE - 1);
      }
      expect(await twin.a.reserve('big', lines([hourly, amount(987)]), later + 30 * MINUTE)).toEqual({
        ok: false,
        policyId: 'hourly',
        remaining: { nanos: 986, tokens: null, requests: null },
        resetsAtMs: later + 61 * MINUTE - 1,
      });
    });

    it('a late settle into a slot already out of the window is not counted, then or later', async () => {
      const twin = await fresh();
      const hourly = policy('hourly', {}, { usdNanos: 1_000 }, { window: HOURLY });
      await twin.reserve(twin.a, 'late', lines([hourly, amount(300)]), T0);
      await twin.addSpent(twin.a, hourly, amount(40), T0 + 30 * MINUTE);
      const settleAt = T0 + 70 * MINUTE;
      // Read first so the window has moved past the reservation's slot, then settle into it.
      expect((await twin.expectState(hourly, settleAt)).spent).toEqual(amount(40));
      await twin.settle(twin.b, 'late', amount(250));
      expect(await twin.expectState(hourly, settleAt)).toMatchObject({
        spent: amount(40),
        reserved: amount(0, 0, 0),
      });
      await twin.addSpent(twin.a, hourly, amount(2), settleAt);
      for (const at of [settleAt, settleAt + MINUTE, T0 + 90 * MINUTE - 1, T0 + 91 * MINUTE]) {
        await twin.expectState(hourly, at, twin.b);
      }
      expect((await twin.expectState(hourly, settleAt + MINUTE)).spent).toEqual(amount(42, 0, 2));
      // Back in time it is still there (the clock of a replica far behind): still exact.
      expect((await twin.expectState(hourly, T0 + 59 * MINUTE)).spent).toEqual(amount(290, 0, 2));
    });

    it('spend booked ahead of the window is counted once the window reaches it', async () => {
      const twin = await fresh();
      const hourly = policy('hourly', {}, { usdNanos: 1_000 }, { window: HOURLY });
      await twin.expectState(hourly, T0);
      // A ledger row replayed ahead of every reader's clock, and a soft line (its window unread).
      await twin.addSpent(twin.b, hourly, amount(30, 2), T0 + 3 * MINUTE + 10);
      const soft: BudgetPolicy = { ...hourly, mode: 'soft' };
      await twin.reserve(twin.b, 'soft', lines([soft, amount(5)]), T0 + 4 * MINUTE);
      await twin.settle(twin.b, 'soft', amount(5));
      // A replica whose clock runs ahead books into a bucket the others do not count yet.
      await twin.reserve(twin.b, 'ahead', lines([hourly, amount(100)]), T0 + 2 * MINUTE + 5);
      await twin.settle(twin.a, 'ahead', amount(80));
      expect((await twin.expectState(hourly, T0 + MINUTE)).spent).toEqual(amount(0, 0, 0));
      expect((await twin.expectState(hourly, T0 + 2 * MINUTE)).spent).toEqual(amount(80));
      expect((await twin.expectState(hourly, T0 + MINUTE)).spent).toEqual(amount(0, 0, 0));
      expect((await twin.expectState(hourly, T0 + 3 * MINUTE)).spent).toEqual(amount(110, 2, 2));
      expect((await twin.expectState(hourly, T0 + 2 * MINUTE)).spent).toEqual(amount(80));
      expect((await twin.expectState(hourly, T0 + 5 * MINUTE)).spent).toEqual(amount(115, 2, 3));
    });

    it('two replicas racing reserves across a bucket edge never overspend; each reserve is all or none', async () => {
      const twin = await fresh();
      const tenMinutes: WindowSpec = { kind: 'rolling', sizeMs: 10 * MINUTE, bucketMs: MINUTE };
      const capped = policy('capped', {}, { usdNanos: 1_000 }, { window: tenMinutes });
      const team = policy('team', {}, { usdNanos: 1_000_000 });
      await twin.addSpent(twin.a, capped, amount(600), T0);
      await twin.expectState(capped, T0 + 5 * MINUTE);
      // T0's bucket leaves the window at T0 + 11 min - 1: a ms before, 400 is left; then 1,000.
      const edge = T0 + 11 * MINUTE - 1;
      const calls = Array.from({ length: 20 }, (_, i) => ({
        id: `c${i}`,
        via: i % 2 === 0 ? twin.a : twin.b,
        at: i % 4 < 2 ? edge - 1 : edge,
      }));
      const outcomes = await Promise.all(
        calls.map((c) => c.via.reserve(c.id, lines([team, amount(100)], [capped, amount(100)]), c.at)),
      );
      const ok = calls.filter((_, i) => outcomes[i]?.ok);
      // Before the edge at most 4 fit (600 + 4 * 100); after it the rest fill up to the cap.
      expect(ok.length).toBe(10);
      expect(ok.filter((c) => c.at === edge - 1).length).toBeLessThanOrEqual(4);
      for (const [i, outcome] of outcomes.entries()) {
        if (!outcome.ok) expect(outcome).toMatchObject({ policyId: 'capped', remaining: { nanos: 0 } });
        else expect(outcome.reservationId).toBe(calls[i]?.id);
      }
      const [atEdge, teamState] = await Promise.all([twin.b.state(capped, edge), twin.a.state(team, edge)]);
      expect([atEdge.spent, atEdge.reserved]).toEqual([amount(0, 0, 0), amount(1_000, 0, 10)]);
      expect(teamState.reserved).toEqual(amount(1_000, 0, 10));
      expect((await twin.a.state(capped, edge - 1)).spent).toEqual(amount(600));
      expect(await twin.b.reserve('more', lines([capped, amount(1)]), edge)).toMatchObject({
        ok: false,
        remaining: { nanos: 0 },
      });
    });
  });
}
