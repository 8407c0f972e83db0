import { describe, expect, it } from 'vitest';
import type { BudgetPolicy, PolicyState } from '../budget/types.ts';
import type { Services } from '../server/services.ts';
import { noteSettled, SHARED_CHECK_EVERY_MS } from './alerting.ts';
import type { CallContext, Reservation } from './context.ts';

const policy = { id: 'team-hour', alerts: [0.5, 0.8, 1] } as unknown as BudgetPolicy;

/** Services with only what noteSettled touches; `spent` is what the next state() read returns. */
function fakeServices(redis: string | undefined) {
  const reads: number[] = [];
  const observed: number[] = [];
  let spent = 0;
  const svc = {
    config: { raw: { storage: { redis } } },
    clock: () => 1_000,
    queue: { notify: () => {} },
    runaway: { observeSpend: () => null },
    log: { warn: () => {} },
    budgets: {
      state: async (): Promise<PolicyState> => {
        reads.push(spent);
        return {
          policyId: policy.id,
          window: { startMs: 0, endMs: 10_000, resetsAtMs: 10_000 },
          spent: { nanos: spent, tokens: 0, requests: 0 },
          reserved: { nanos: 0, tokens: 0, requests: 0 },
        } as PolicyState;
      },
    },
    alerts: {
      observe: (_p: BudgetPolicy, s: { nanos: number }) => {
        observed.push(s.nanos);
        return [];
      },
    },
  } as unknown as Services;
  const ctx = { key: { id: 'k1' }, identity: { feature: null }, callId: 'c' } as unknown as CallContext;
  const reservation = { id: 'r', policies: [policy] } as unknown as Reservation;
  const settle = (newSpent: number) => {
    spent = newSpent;
    noteSettled(svc, ctx, reservation, 1);
  };
  return { settle, reads, observed };
}

const nextTurn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('alert threshold checks after settlements', () => {
  it('embedded: one check per policy per event-loop turn', async () => {
    const f = fakeServices(undefined);
    f.settle(1);
    f.settle(2);
    await nextTurn();
    await nextTurn();
    f.settle(3);
    await nextTurn();
    await nextTurn();
    expect(f.reads).toEqual([2, 3]);
    expect(f.observed).toEqual([2, 3]);
  });

  it('shared counters: checks are spaced per replica, and the last settlement is always checked', async () => {
    const f = fakeServices('redis://127.0.0.1:6379');
    f.settle(10);
    await nextTurn();
    await nextTurn();
    // The first check after a quiet spell runs at once.
    expect(f.reads).toEqual([10]);
    // A burst over many turns: no Redis read until the spacing has passed...
    for (let i = 11; i <= 20; i++) {
      f.settle(i);
      await nextTurn();
    }
    expect(f.reads).toEqual([10]);
    // ...then one read that sees the latest spend.
    await sleep(SHARED_CHECK_EVERY_MS + 50);
    expect(f.reads).toEqual([10, 20]);
    expect(f.observed).toEqual([10, 20]);
    // Nothing settled since: no more reads.
    await sleep(SHARED_CHECK_EVERY_MS + 50);
    expect(f.reads).toEqual([10, 20]);
  });
});
