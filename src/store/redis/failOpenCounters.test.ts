import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import type { Amount, AsyncBudgetCounters, BudgetPolicy } from '../../budget/types.ts';
import { MemoryBudgetCounters } from '../memory/budgetCounters.ts';
import { CountersUnavailableError } from './errors.ts';
import { FailOpenCounters } from './failOpenCounters.ts';
import { fromSync } from './fromSync.ts';

const USD = 1_000_000_000;
const T0 = Date.UTC(2026, 5, 10, 12);

/** In-memory "Redis" that can be switched off: every call then rejects as unreachable. */
class SwitchableStore implements AsyncBudgetCounters {
  down = false;
  inner = fromSync(new MemoryBudgetCounters());
  addSpentCalls = 0;

  private gate(): void {
    if (this.down) throw new CountersUnavailableError('unreachable', 'fake Redis is down');
  }
  async reserve(...a: Parameters<AsyncBudgetCounters['reserve']>) {
    this.gate();
    return this.inner.reserve(...a);
  }
  async settle(id: string, actual: Amount) {
    this.gate();
    return this.inner.settle(id, actual);
  }
  async release(id: string) {
    this.gate();
    return this.inner.release(id);
  }
  async addSpent(p: BudgetPolicy, amount: Amount, atMs: number) {
    this.gate();
    this.addSpentCalls++;
    return this.inner.addSpent(p, amount, atMs);
  }
  async state(p: BudgetPolicy, nowMs: number) {
    this.gate();
    return this.inner.state(p, nowMs);
  }
  async openReservations() {
    this.gate();
    return this.inner.openReservations();
  }
  async reap(nowMs: number, limit?: number) {
    this.gate();
    return this.inner.reap(nowMs, limit);
  }
  async renew(ids: readonly string[], leaseExpiresAtMs: number) {
    this.gate();
    return this.inner.renew(ids, leaseExpiresAtMs);
  }
  /** Redis restarted empty and was rebuilt (by someone) from a ledger holding `ledgerNanos`. */
  rebuild(p: BudgetPolicy, ledgerNanos: number): void {
    this.inner = fromSync(new MemoryBudgetCounters());
    if (ledgerNanos > 0) void this.inner.addSpent(p, usd(ledgerNanos), T0);
  }
}

const usd = (nanos: number): Amount => ({ nanos, tokens: 0, requests: 0 });
const openPolicy = (id: string, team: string, limitUsd: number, allowanceUsd: number) =>
  policy(
    id,
    { team },
    { usdNanos: limitUsd * USD },
    {
      storeDown: { mode: 'open', allowanceNanos: allowanceUsd * USD },
    },
  );

function setup() {
  const redis = new SwitchableStore();
  let epoch: string | null = 'e1';
  const counters = new FailOpenCounters(redis, {
    dataEpoch: async () => (redis.down ? null : epoch),
  });
  return {
    redis,
    counters,
    setEpoch: (e: string) => {
      epoch = e;
    },
  };
}

describe('FailOpenCounters', () => {
  it('uses Redis while it answers, admitting nothing locally', async () => {
    const { redis, counters } = setup();
    const p = openPolicy('a', 'search', 10, 0.01);
    expect(await counters.reserve('r1', [{ policy: p, amount: usd(3 * USD) }], T0)).toEqual({
      ok: true,
      reservationId: 'r1',
    });
    expect(counters.isLocal('r1')).toBe(false);
    expect(await counters.settle('r1', usd(2 * USD))).toBe(true);
    expect((await redis.inner.state(p, T0)).spent.nanos).toBe(2 * USD);
    expect(counters.pendingReplays()).toBe(0);
  });

  it('fails closed (rethrows) when any hard line is closed, and by default', async () => {
    const { redis, counters } = setup();
    redis.down = true;
    const open = openPolicy('a', 'search', 10, 1);
    const closed = policy('b', { team: 'search' }, { usdNanos: 10 * USD });
    await expect(
      counters.reserve('r1', [{ policy: closed, amount: usd(USD / 100) }], T0),
    ).rejects.toBeInstanceOf(CountersUnavailableError);
    await expect(
      counters.reserve(
        'r2',
        [
          { policy: open, amount: usd(USD / 100) },
          { policy: closed, amount: usd(USD / 100) },
        ],
        T0,
      ),
    ).rejects.toBeInstanceOf(CountersUnavailableError);
    expect(counters.isLocal('r2')).toBe(false);
  });

  it('rethrows errors that are not unavailability', async () => {
    const { redis, counters } = setup();
    redis.reserve = async () => {
      throw new Error('bug');
    };
    const p = openPolicy('a', 'search', 10, 1);
    await expect(counters.reserve('r1', [{ policy: p, amount: usd(1) }], T0)).rejects.toThrow('bug');
  });

  it('admits against the allowance while Redis is down, then denies with the same policy id', async () => {
    const { redis, counters } = setup();
    redis.down = true;
    const p = openPolicy('a', 'search', 10, 0.01);
    const soft = policy('s', { team: 'search' }, { usdNanos: USD }, { mode: 'soft' });
    const lines = (n: number) => [
      { policy: p, amount: usd(n) },
      { policy: soft, amount: usd(n) },
    ];
    expect((await counters.reserve('r1', lines(6_000_000), T0)).ok).toBe(true);
    expect(counters.isLocal('r1')).toBe(true);
    expect(await counters.settle('r1', usd(4_000_000))).toBe(true);
    expect((await counters.reserve('r2', lines(6_000_000), T0)).ok).toBe(true);
    const denied = await counters.reserve('r3', lines(1_000_000), T0);
    expect(denied).toEqual({
      ok: false,
      policyId: 'a',
      remaining: { nanos: 0, tokens: null, requests: null },
      resetsAtMs: null,
    });
    expect((await counters.state(p, T0)).spent.nanos).toBe(4_000_000);
    expect((await counters.state(p, T0)).reserved.nanos).toBe(6_000_000);
    // A closed policy has no local answer.
    await expect(counters.state(soft, T0)).rejects.toBeInstanceOf(CountersUnavailableError);
    expect(await counters.release('r2')).toBe(true);
    expect(counters.pendingReplays()).toBe(2);
  });

  it('replays local spend into Redis once it is back (same data), exactly once, on every line', async () => {
    const { redis, counters } = setup();
    await counters.replayNow(); // learns epoch e1 while Redis is up
    const p = openPolicy('a', 'search', 10, 1);
    const q = openPolicy('b', 'search', 10, 1);
    await redis.addSpent(p, usd(USD), T0);
    redis.down = true;
    await counters.reserve(
      'r1',
      [
        { policy: p, amount: usd(USD / 10) },
        { policy: q, amount: usd(USD / 10) },
      ],
      T0,
    );
    await counters.settle('r1', usd(USD / 20));
    await counters.reserve('r2', [{ policy: p, amount: usd(USD / 10) }], T0);
    await counters.release('r2');
    expect(await counters.replayNow()).toBe(2);
    redis.down = false;
    // Before the replay, state adds the spend still waiting.
    expect((await counters.state(p, T0)).spent.nanos).toBe(USD + USD / 20);
    expect(await counters.replayNow()).toBe(0);
    expect(await counters.replayNow()).toBe(0);
    expect((await redis.state(p, T0)).spent.nanos).toBe(USD + USD / 20);
    expect((await redis.state(q, T0)).spent.nanos).toBe(USD / 20);
    expect((await counters.state(p, T0)).spent.nanos).toBe(USD + USD / 20);
    expect(redis.addSpentCalls).toBe(3);
  });

  it('does not add spend again when Redis was rebuilt from the ledger after the call', async () => {
    const { redis, counters, setEpoch } = setup();
    await counters.replayNow();
    const p = openPolicy('a', 'search', 10, 1);
    redis.down = true;
    await counters.reserve('r1', [{ policy: p, amount: usd(USD / 10) }], T0);
    await counters.settle('r1', usd(USD / 20));
    // Redis lost its data; a replica rebuilt it from the ledger, which holds r1's row.
    redis.rebuild(p, USD / 20);
    setEpoch('e2');
    redis.down = false;
    expect(await counters.replayNow()).toBe(0);
    expect((await redis.state(p, T0)).spent.nanos).toBe(USD / 20);
    expect(redis.addSpentCalls).toBe(0);
  });

  it('settles a reservation the rebuild restored from a pending row instead of adding its spend', async () => {
    const { redis, counters, setEpoch } = setup();
    await counters.replayNow();
    const p = openPolicy('a', 'search', 10, 1);
    redis.down = true;
    await counters.reserve('r1', [{ policy: p, amount: usd(USD / 10) }], T0);
    redis.rebuild(p, 0);
    await redis.inner.reserve('r1', [{ policy: p, amount: usd(USD / 10) }], T0);
    setEpoch('e2');
    await counters.settle('r1', usd(USD / 20));
    redis.down = false;
    expect(await counters.replayNow()).toBe(0);
    const state = await redis.state(p, T0);
    expect(state.spent.nanos).toBe(USD / 20);
    expect(state.reserved.nanos).toBe(0);
    expect(redis.addSpentCalls).toBe(0);
  });

  it('keeps a partly replayed entry and finishes it without adding a line twice', async () => {
    const { redis, counters } = setup();
    await counters.replayNow();
    const p = openPolicy('a', 'search', 10, 1);
    const q = openPolicy('b', 'search', 10, 1);
    redis.down = true;
    await counters.reserve(
      'r1',
      [
        { policy: p, amount: usd(10) },
        { policy: q, amount: usd(10) },
      ],
      T0,
    );
    await counters.settle('r1', usd(7));
    redis.down = false;
    const add = redis.addSpent.bind(redis);
    let calls = 0;
    redis.addSpent = async (pol, amount, at) => {
      calls++;
      if (calls === 2) throw new CountersUnavailableError('unreachable', 'blip');
      return add(pol, amount, at);
    };
    expect(await counters.replayNow()).toBe(1);
    expect(await counters.replayNow()).toBe(0);
    expect((await redis.state(p, T0)).spent.nanos).toBe(7);
    expect((await redis.state(q, T0)).spent.nanos).toBe(7);
  });

  it('gives each outage a fresh allowance once Redis answered again', async () => {
    const { redis, counters } = setup();
    const p = openPolicy('a', 'search', 10, 0.01);
    redis.down = true;
    await counters.reserve('r1', [{ policy: p, amount: usd(USD / 100) }], T0);
    await counters.settle('r1', usd(USD / 100));
    expect((await counters.reserve('r2', [{ policy: p, amount: usd(1) }], T0)).ok).toBe(false);
    redis.down = false;
    expect((await counters.reserve('r3', [{ policy: p, amount: usd(1) }], T0)).ok).toBe(true);
    expect(counters.isLocal('r3')).toBe(false);
    await counters.release('r3');
    redis.down = true;
    expect((await counters.reserve('r4', [{ policy: p, amount: usd(USD / 100) }], T0)).ok).toBe(true);
    expect(counters.isLocal('r4')).toBe(true);
    await counters.release('r4');
  });

  it('counts local open reservations in openReservations', async () => {
    const { redis, counters } = setup();
    const p = openPolicy('a', 'search', 10, 1);
    redis.down = true;
    await counters.reserve('r1', [{ policy: p, amount: usd(5) }], T0);
    redis.down = false;
    expect(await counters.openReservations()).toBe(1);
    await counters.settle('r1', usd(5));
    expect(await counters.openReservations()).toBe(0);
  });
});
