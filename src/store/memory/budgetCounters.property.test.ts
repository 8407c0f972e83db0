import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AMOUNT_UNITS, addAmounts, zeroAmount } from '../../budget/amount.ts';
import { compilePolicies } from '../../budget/matcher.ts';
import { fitsWithin } from '../../budget/plan.ts';
import { callIdentity, policy } from '../../budget/testPolicies.ts';
import type { Amount, BudgetPolicy, WindowSpec } from '../../budget/types.ts';
import { MemoryBudgetCounters } from './budgetCounters.ts';

const T0 = Date.parse('2025-06-10T12:00:00Z');
const MINUTE = 60_000;

/** Overlapping policies: org ⊃ team ⊃ user, plus feature, soft and other-team ones. */
function policies(window: WindowSpec): BudgetPolicy[] {
  const w = { window };
  return [
    policy('org', { org: 'acme' }, { usdNanos: 5000, tokens: 3000, requests: 40 }, w),
    policy('team-search', { team: 'search' }, { usdNanos: 2000, tokens: 1500, requests: 25 }, w),
    policy('team-ads', { team: 'ads' }, { usdNanos: 1500, tokens: null, requests: 20 }, w),
    policy('alice', { user: 'alice' }, { usdNanos: 800, tokens: 600, requests: 10 }, w),
    policy('search-bob', { team: 'search', user: 'bob' }, { usdNanos: 700, tokens: null, requests: 8 }, w),
    policy('chat', { feature: 'chat' }, { usdNanos: 1000, tokens: 800, requests: null }, w),
    policy(
      'soft-search',
      { team: 'search' },
      { usdNanos: 100, tokens: 10, requests: 1 },
      { ...w, mode: 'soft' },
    ),
  ];
}

type Op =
  | {
      kind: 'reserve';
      team: string;
      user: string | null;
      feature: string | null;
      nanos: number;
      tokens: number;
    }
  | { kind: 'settle'; pick: number; nanosPct: number; tokensPct: number; countRequest: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'tick'; ms: number };

function opArb(maxTickMs: number): fc.Arbitrary<Op> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('reserve' as const),
        team: fc.constantFrom('search', 'ads'),
        user: fc.constantFrom('alice', 'bob', null),
        feature: fc.constantFrom('chat', null),
        nanos: fc.integer({ min: 0, max: 600 }),
        tokens: fc.integer({ min: 0, max: 400 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('settle' as const),
        pick: fc.nat(),
        nanosPct: fc.integer({ min: 0, max: 100 }),
        tokensPct: fc.integer({ min: 0, max: 100 }),
        countRequest: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('tick' as const),
        ms: fc.integer({ min: 0, max: maxTickMs }),
      }),
    },
  );
}

interface OpenCall {
  id: string;
  policies: BudgetPolicy[];
  amount: Amount;
}

/** Drives the counters through `ops`, calling `check` after every step; returns the model. */
function run(
  all: BudgetPolicy[],
  ops: Op[],
  check: (
    counters: MemoryBudgetCounters,
    now: number,
    step: { op: Op; open: OpenCall | null; ok: boolean },
  ) => void,
) {
  const index = compilePolicies(all);
  const counters = new MemoryBudgetCounters();
  const open: OpenCall[] = [];
  const settledByPolicy = new Map<string, Amount>(all.map((p) => [p.id, zeroAmount()]));
  let now = T0;
  let seq = 0;

  const close = (call: OpenCall, actual: Amount | null) => {
    const closed = actual ? counters.settle(call.id, actual) : counters.release(call.id);
    expect(closed).toBe(true);
    // A second close of any kind is a no-op.
    expect(counters.settle(call.id, zeroAmount())).toBe(false);
    expect(counters.release(call.id)).toBe(false);
    if (actual) {
      for (const p of call.policies)
        settledByPolicy.set(p.id, addAmounts(settledByPolicy.get(p.id) ?? zeroAmount(), actual));
    }
  };

  for (const op of ops) {
    let touched: OpenCall | null = null;
    let ok = true;
    if (op.kind === 'tick') {
      now += op.ms;
    } else if (op.kind === 'reserve') {
      const call = callIdentity({ team: op.team, user: op.user, feature: op.feature });
      const matched = index.match(call);
      const amount = { nanos: op.nanos, tokens: op.tokens, requests: 1 };
      const id = `r${seq++}`;
      const outcome = counters.reserve(
        id,
        matched.map((p) => ({ policy: p, amount })),
        now,
      );
      ok = outcome.ok;
      touched = { id, policies: matched, amount };
      if (outcome.ok) open.push(touched);
    } else if (open.length > 0) {
      const [call] = open.splice(op.pick % open.length, 1);
      if (!call) throw new Error('unreachable');
      touched = call;
      if (op.kind === 'release') close(call, null);
      else {
        close(call, {
          nanos: Math.floor((call.amount.nanos * op.nanosPct) / 100),
          tokens: Math.floor((call.amount.tokens * op.tokensPct) / 100),
          requests: op.countRequest ? call.amount.requests : 0,
        });
      }
    }
    check(counters, now, { op, open: touched, ok });
  }
  // Close whatever is still open, alternating settle at full reservation and release.
  open.forEach((call, i) => {
    close(call, i % 2 === 0 ? call.amount : null);
  });
  check(counters, now, { op: { kind: 'tick', ms: 0 }, open: null, ok: true });
  return { counters, now, settledByPolicy };
}

function expectWithinHardLimits(all: BudgetPolicy[], counters: MemoryBudgetCounters, now: number) {
  for (const p of all) {
    if (p.mode !== 'hard') continue;
    const { spent, reserved } = counters.state(p, now);
    for (const { unit } of AMOUNT_UNITS) {
      expect(spent[unit]).toBeGreaterThanOrEqual(0);
      expect(reserved[unit]).toBeGreaterThanOrEqual(0);
    }
    expect(fitsWithin(p.limit, spent, reserved, zeroAmount()), `${p.id} over its limit`).toBe(true);
  }
}

describe('MemoryBudgetCounters under random interleavings (property)', () => {
  it('one window: hard caps always hold, outcomes match the model, counters equal settled sums', () => {
    const all = policies({ kind: 'calendar', every: 'month', tz: 'Europe/Berlin' });
    fc.assert(
      fc.property(fc.array(opArb(MINUTE), { maxLength: 200 }), (ops) => {
        // The model: what each policy had before the step, to predict reserve outcomes.
        const model = new Map(all.map((p) => [p.id, { spent: zeroAmount(), reserved: zeroAmount() }]));
        const { counters, now, settledByPolicy } = run(all, ops, (c, at, step) => {
          expectWithinHardLimits(all, c, at);
          if (step.op.kind === 'reserve' && step.open) {
            const { policies: matched, amount } = step.open;
            const fits = matched.every((p) => {
              const m = model.get(p.id);
              return (
                p.mode === 'soft' || (m !== undefined && fitsWithin(p.limit, m.spent, m.reserved, amount))
              );
            });
            expect(step.ok, 'reserve outcome disagrees with the model').toBe(fits);
          }
          for (const p of all) {
            const { spent, reserved } = c.state(p, at);
            model.set(p.id, { spent, reserved });
          }
        });
        expect(counters.openReservations()).toBe(0);
        for (const p of all) {
          const state = counters.state(p, now);
          expect(state.reserved).toEqual(zeroAmount());
          expect(state.spent).toEqual(settledByPolicy.get(p.id));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rolling windows with a moving clock: hard caps always hold and nothing leaks', () => {
    const all = policies({ kind: 'rolling', sizeMs: 10 * MINUTE, bucketMs: MINUTE });
    fc.assert(
      fc.property(fc.array(opArb(4 * MINUTE), { maxLength: 200 }), (ops) => {
        const { counters, now } = run(all, ops, (c, at) => expectWithinHardLimits(all, c, at));
        expect(counters.openReservations()).toBe(0);
        for (const p of all) expect(counters.state(p, now).reserved).toEqual(zeroAmount());
      }),
      { numRuns: 300 },
    );
  });

  it('calendar days with a moving clock across DST: hard caps always hold', () => {
    const all = policies({ kind: 'calendar', every: 'day', tz: 'America/New_York' });
    fc.assert(
      fc.property(fc.array(opArb(6 * 60 * MINUTE), { maxLength: 150 }), (ops) => {
        const { counters, now } = run(all, ops, (c, at) => expectWithinHardLimits(all, c, at));
        expect(counters.openReservations()).toBe(0);
        for (const p of all) expect(counters.state(p, now).reserved).toEqual(zeroAmount());
      }),
      { numRuns: 100 },
    );
  });
});
