import { describe, expect, it } from 'vitest';
import type { Amount } from '../../budget/types.ts';
import { DeferredCloses } from './deferredCloses.ts';
import { CountersUnavailableError } from './errors.ts';
import type { AsyncBudgetCounters } from './types.ts';

const ACTUAL: Amount = { nanos: 120, tokens: 30, requests: 1 };

/** A store that is down while `down` is true and records what it closed. */
function flakyStore() {
  const state = {
    down: true,
    open: new Set(['a', 'b', 'c']),
    settled: [] as string[],
    released: [] as string[],
  };
  const unavailable = () => new CountersUnavailableError('unreachable', 'Redis is unreachable');
  const counters: AsyncBudgetCounters = {
    async settle(id) {
      if (state.down) throw unavailable();
      if (!state.open.delete(id)) return false;
      state.settled.push(id);
      return true;
    },
    async release(id) {
      if (state.down) throw unavailable();
      if (!state.open.delete(id)) return false;
      state.released.push(id);
      return true;
    },
    reserve: async () => ({ ok: true, reservationId: 'x' }),
    addSpent: async () => {},
    state: async () => {
      throw unavailable();
    },
    openReservations: async () => state.open.size,
    reap: async () => [],
    renew: async () => 0,
  };
  return { state, counters };
}

describe('DeferredCloses', () => {
  it('answers at once when the store is up', async () => {
    const { state, counters } = flakyStore();
    state.down = false;
    const closes = new DeferredCloses(counters, { maxAgeMs: 60_000 });
    expect(await closes.settle('a', ACTUAL)).toBe(true);
    expect(await closes.settle('a', ACTUAL)).toBe(false);
    expect(closes.size()).toBe(0);
  });

  it('queues closes while the store is down and lands them once it is back', async () => {
    const { state, counters } = flakyStore();
    const closes = new DeferredCloses(counters, { maxAgeMs: 60_000, retryEveryMs: 3_600_000 });
    expect(await closes.settle('a', ACTUAL)).toBe('deferred');
    expect(await closes.release('b')).toBe('deferred');
    expect(await closes.retryNow()).toBe(2);
    state.down = false;
    expect(await closes.retryNow()).toBe(0);
    expect([state.settled, state.released, [...state.open]]).toEqual([['a'], ['b'], ['c']]);
    closes.stop();
  });

  it('keeps at most maxQueued releases in a long outage, but every settle', async () => {
    const { state, counters } = flakyStore();
    const givenUp: string[] = [];
    const closes = new DeferredCloses(counters, {
      maxAgeMs: 60_000,
      retryEveryMs: 3_600_000,
      maxQueued: 2,
      onGiveUp: (c) => givenUp.push(c.id),
    });
    for (const id of ['r1', 'r2', 'r3', 'r4']) expect(await closes.release(id)).toBe('deferred');
    expect(await closes.settle('a', ACTUAL)).toBe('deferred');
    expect(await closes.settle('b', ACTUAL)).toBe('deferred');
    expect(closes.size()).toBe(4);
    expect(givenUp).toEqual(['r3', 'r4']);
    state.down = false;
    expect(await closes.retryNow()).toBe(0);
    expect(state.settled).toEqual(['a', 'b']);
    closes.stop();
  });

  it('gives up after maxAge (the reaper has settled it at its reserved amount by then)', async () => {
    const { counters } = flakyStore();
    let now = 0;
    const given: string[] = [];
    const closes = new DeferredCloses(counters, {
      maxAgeMs: 1_000,
      retryEveryMs: 3_600_000,
      clock: () => now,
      onGiveUp: (c) => given.push(`${c.kind}:${c.id}`),
    });
    await closes.settle('a', ACTUAL);
    now = 999;
    expect(await closes.retryNow()).toBe(1);
    now = 1_000;
    expect(await closes.retryNow()).toBe(0);
    expect(given).toEqual(['settle:a']);
  });

  it('passes bugs through instead of queueing them', async () => {
    const { state, counters } = flakyStore();
    state.down = false;
    const broken: AsyncBudgetCounters = {
      ...counters,
      settle: async () => {
        throw new RangeError('settled amount: nanos must be a non-negative safe integer');
      },
    };
    const closes = new DeferredCloses(broken, { maxAgeMs: 1_000 });
    await expect(closes.settle('a', ACTUAL)).rejects.toThrow(RangeError);
    expect(closes.size()).toBe(0);
  });
});
