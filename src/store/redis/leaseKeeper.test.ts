import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../../../test/helpers/redisServer.ts';
import { policy } from '../../budget/testPolicies.ts';
import type { Amount, ReserveLine } from '../../budget/types.ts';
import { RateLimiter } from '../../ratelimit/limiter.ts';
import type { RateLimitRule } from '../../ratelimit/types.ts';
import { MemoryBudgetCounters } from '../memory/budgetCounters.ts';
import { RedisBudgetCounters } from './budgetCounters.ts';
import { createCountersClient, waitUntilReady } from './client.ts';
import { CountersUnavailableError } from './errors.ts';
import { fromSync, fromSyncRateLimits } from './fromSync.ts';
import { LeaseKeeper } from './leaseKeeper.ts';
import { RedisRateLimiter } from './rateLimiter.ts';
import type { AsyncBudgetCounters, AsyncRateLimits } from './types.ts';

const T0 = Date.parse('2025-06-10T12:00:00Z');
const LEASE = 60_000;
const team = policy('team/1', {}, { usdNanos: 10_000 });

function amount(nanos: number): Amount {
  return { nanos, tokens: 0, requests: 1 };
}

const NONE: Amount = { nanos: 0, tokens: 0, requests: 0 };

function lines(nanos: number): ReserveLine[] {
  return [{ policy: team, amount: amount(nanos) }];
}

function slotRule(concurrency: number): RateLimitRule {
  return { id: 'cc', scope: { kind: 'key', value: 'k1' }, rpm: null, tpm: null, concurrency };
}

interface Stores {
  counters: AsyncBudgetCounters;
  limits: AsyncRateLimits;
}

/** `renew` as both stores must keep it (the in-memory adapters and Redis). */
function describeRenewContract(name: string, create: () => Promise<Stores>): void {
  describe(`${name}: lease renewal`, () => {
    it('renews an open reservation past its old lease: the reaper leaves it until the new one', async () => {
      const { counters } = await create();
      expect(await counters.reserve('r1', lines(300), T0)).toEqual({ ok: true, reservationId: 'r1' });
      expect(await counters.renew(['r1'], T0 + 3 * LEASE)).toBe(1);
      expect(await counters.reap(T0 + LEASE + 1)).toEqual([]);
      expect((await counters.state(team, T0 + LEASE + 1)).reserved).toEqual(amount(300));
      // An earlier expiry never shortens the lease.
      expect(await counters.renew(['r1'], T0 + 2 * LEASE)).toBe(1);
      expect(await counters.reap(T0 + 3 * LEASE - 1)).toEqual([]);
      expect(await counters.reap(T0 + 3 * LEASE)).toEqual([
        {
          reservationId: 'r1',
          reservedAtMs: T0,
          leaseExpiredAtMs: T0 + 3 * LEASE,
          lines: [{ policyId: 'team/1', amount: amount(300) }],
        },
      ]);
      const state = await counters.state(team, T0 + 3 * LEASE);
      expect([state.spent, state.reserved]).toEqual([amount(300), NONE]);
    });

    it('a settled, released, reaped or unknown reservation is not renewed and stays closed', async () => {
      const { counters } = await create();
      await counters.reserve('settled', lines(100), T0);
      await counters.reserve('released', lines(200), T0);
      await counters.reserve('reaped', lines(400), T0);
      await counters.reserve('open', lines(800), T0);
      expect(await counters.settle('settled', amount(50))).toBe(true);
      expect(await counters.release('released')).toBe(true);
      await counters.renew(['open'], T0 + 2 * LEASE);
      expect((await counters.reap(T0 + LEASE)).map((r) => r.reservationId)).toEqual(['reaped']);

      expect(await counters.renew(['settled', 'released', 'reaped', 'never', 'open'], T0 + 5 * LEASE)).toBe(
        1,
      );
      expect(await counters.openReservations()).toBe(1);
      const state = await counters.state(team, T0 + LEASE);
      expect([state.spent, state.reserved]).toEqual([{ nanos: 450, tokens: 0, requests: 2 }, amount(800)]);
      expect(await counters.settle('settled', amount(1))).toBe(false);
      expect(await counters.release('released')).toBe(false);
      expect((await counters.reap(T0 + 5 * LEASE)).map((r) => r.reservationId)).toEqual(['open']);
    });

    it('renews a rate limit handle: its concurrency slot still counts after the old lease', async () => {
      const { limits } = await create();
      const rule = slotRule(1);
      expect((await limits.acquire('h1', [rule], 0, T0)).ok).toBe(true);
      expect(await limits.renew(['h1'], T0 + 3 * LEASE)).toBe(1);
      expect(await limits.reap(T0 + LEASE + 1)).toEqual([]);
      const refused = await limits.acquire('h2', [rule], 0, T0 + LEASE + 1);
      expect(refused.ok ? 'admitted' : refused.unit).toBe('concurrency');
      expect((await limits.snapshot(rule, T0 + LEASE + 1)).concurrency).toEqual({ limit: 1, open: 1 });
      expect(await limits.openCount()).toBe(1);
      expect(await limits.reap(T0 + 3 * LEASE)).toEqual(['h1']);
      expect((await limits.acquire('h3', [rule], 0, T0 + 3 * LEASE)).ok).toBe(true);
    });

    it('a closed or reaped rate limit handle is not renewed and holds no slot', async () => {
      const { limits } = await create();
      const rule = slotRule(1);
      await limits.acquire('released', [rule], 0, T0);
      expect(await limits.release('released')).toBe(true);
      await limits.acquire('reaped', [rule], 0, T0);
      expect(await limits.reap(T0 + LEASE)).toEqual(['reaped']);
      expect(await limits.renew(['released', 'reaped', 'never'], T0 + 5 * LEASE)).toBe(0);
      expect(await limits.openCount()).toBe(0);
      expect((await limits.snapshot(rule, T0 + LEASE)).concurrency).toEqual({ limit: 1, open: 0 });
      expect((await limits.acquire('next', [rule], 0, T0 + LEASE)).ok).toBe(true);
    });
  });
}

describeRenewContract('memory (fromSync)', async () => ({
  counters: fromSync(new MemoryBudgetCounters(), { leaseMs: LEASE }),
  limits: fromSyncRateLimits(new RateLimiter(), { leaseMs: LEASE }),
}));

function quietClient(url: string): Redis {
  const client = createCountersClient(url);
  client.on('error', () => {});
  return client;
}

(redisSuitesCanRun() ? describe : describe.skip)('Redis lease renewal', () => {
  let server: RedisServer;
  let client: Redis;
  let nextPrefix = 0;

  beforeAll(async () => {
    server = await startRedisServer();
    client = quietClient(server.url);
    await waitUntilReady(client);
  });

  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  async function redisStores(): Promise<Stores & { budgetPrefix: string; ratePrefix: string }> {
    const n = nextPrefix++;
    const budgetPrefix = `test:{lease-b-${n}}`;
    const ratePrefix = `test:{lease-r-${n}}`;
    const counters = new RedisBudgetCounters(client, { prefix: budgetPrefix, leaseMs: LEASE });
    expect(await counters.seed(async () => {})).toBe('seeded');
    const limits = new RedisRateLimiter(client, { prefix: ratePrefix, leaseMs: LEASE });
    return { counters, limits, budgetPrefix, ratePrefix };
  }

  describeRenewContract('redis', redisStores);

  it('moves the lease score, the record expiry and the slot score; leaves closed ids without keys', async () => {
    const { counters, limits, budgetPrefix, ratePrefix } = await redisStores();
    await counters.reserve('r1', lines(300), T0);
    await counters.reserve('r2', lines(300), T0);
    await counters.settle('r2', amount(10));
    expect(await counters.renew(['r1', 'r2'], T0 + 2 * LEASE)).toBe(1);
    expect(await client.zrange(`${budgetPrefix}:leases`, '0', '-1', 'WITHSCORES')).toEqual([
      'r1',
      String(T0 + 2 * LEASE),
    ]);
    const record = JSON.parse((await client.get(`${budgetPrefix}:res:r1`)) ?? '{}') as { exp?: string };
    expect(record.exp).toBe(String(T0 + 2 * LEASE));
    expect(await client.exists(`${budgetPrefix}:res:r2`)).toBe(0);

    await limits.acquire('h1', [slotRule(5)], 0, T0);
    await limits.acquire('h2', [slotRule(5)], 0, T0);
    await limits.cancel('h2', T0);
    expect(await limits.renew(['h1', 'h2'], T0 + 2 * LEASE)).toBe(1);
    expect(await client.zrange(`${ratePrefix}:handles`, '0', '-1', 'WITHSCORES')).toEqual([
      'h1',
      String(T0 + 2 * LEASE),
    ]);
    expect(await client.zrange(`${ratePrefix}:slots:cc|key|k1`, '0', '-1', 'WITHSCORES')).toEqual([
      'h1',
      String(T0 + 2 * LEASE),
    ]);
    expect(await client.exists(`${ratePrefix}:h:h2`)).toBe(0);
  });

  it('does not bring back a slot another acquisition dropped as expired', async () => {
    const { limits } = await redisStores();
    const rule = slotRule(1);
    await limits.acquire('late', [rule], 0, T0);
    // Past its lease and not renewed: the next acquisition drops the slot and takes it.
    expect((await limits.acquire('next', [rule], 0, T0 + LEASE + 1)).ok).toBe(true);
    expect(await limits.renew(['late'], T0 + 5 * LEASE)).toBe(1);
    expect((await limits.snapshot(rule, T0 + LEASE + 2)).concurrency).toEqual({ limit: 1, open: 1 });
  });

  it('answers renewal of unbudgeted reservations and unlimited handles without Redis', async () => {
    const { counters, limits } = await redisStores();
    await counters.reserve('free', [], T0);
    await limits.acquire('free', [], 0, T0);
    expect(await counters.renew(['free'], T0 + LEASE)).toBe(1);
    expect(await limits.renew(['free'], T0 + LEASE)).toBe(1);
  });

  it('renewal of unseeded counters is refused as not_seeded', async () => {
    const counters = new RedisBudgetCounters(client, { prefix: 'test:{lease-unseeded}', leaseMs: LEASE });
    const err = await counters.renew(['r1'], T0).catch((e: unknown) => e);
    expect(err instanceof CountersUnavailableError ? err.reason : err).toBe('not_seeded');
  });

  it('a LeaseKeeper keeps a long call from being reaped and stops once it settles', async () => {
    const { counters, limits } = await redisStores();
    let now = T0;
    const keeper = new LeaseKeeper({ leaseMs: LEASE });
    const kept = keeper.budgetCounters(counters);
    const keptLimits = keeper.rateLimits(limits);
    keeper.start(() => now);
    keeper.stop();
    await kept.reserve('long', lines(500), T0);
    await keptLimits.acquire('long', [slotRule(1)], 0, T0);
    for (let tick = 1; tick <= 9; tick++) {
      now = T0 + (tick * LEASE) / 3;
      expect(await keeper.renewNow()).toEqual({ held: 2, renewed: 2, failed: [] });
      expect(await counters.reap(now)).toEqual([]);
      expect(await limits.reap(now)).toEqual([]);
    }
    expect(await kept.settle('long', amount(120))).toBe(true);
    expect(await keptLimits.settle('long', 0, now)).toBe(true);
    expect(keeper.held()).toBe(0);
    const state = await counters.state(team, now);
    expect([state.spent, state.reserved]).toEqual([amount(120), NONE]);
  });
});

/** A store whose `renew` is recorded and can be made to fail. */
function recordingCounters() {
  const inner = fromSync(new MemoryBudgetCounters(), { leaseMs: LEASE });
  const calls: Array<{ ids: readonly string[]; at: number }> = [];
  const control = { down: false, closeDown: false };
  const unavailable = () => new CountersUnavailableError('unreachable', 'Redis is unreachable');
  const counters: AsyncBudgetCounters = {
    ...inner,
    async renew(ids, at) {
      if (control.down) throw unavailable();
      calls.push({ ids: [...ids], at });
      return inner.renew(ids, at);
    },
    async settle(id, actual) {
      if (control.closeDown) throw unavailable();
      return inner.settle(id, actual);
    },
    async release(id) {
      if (control.closeDown) throw new RangeError('a bug, not an outage');
      return inner.release(id);
    },
  };
  return { inner, counters, calls, control };
}

describe('LeaseKeeper', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds ids from a successful reserve / acquire until their close, not refused ones', async () => {
    const keeper = new LeaseKeeper({ leaseMs: LEASE });
    const counters = keeper.budgetCounters(fromSync(new MemoryBudgetCounters(), { leaseMs: LEASE }));
    const limits = keeper.rateLimits(fromSyncRateLimits(new RateLimiter(), { leaseMs: LEASE }));
    const tight = policy('tight', {}, { usdNanos: 100 });
    await counters.reserve('a', lines(10), T0);
    await counters.reserve('b', lines(10), T0);
    expect((await counters.reserve('too-big', [{ policy: tight, amount: amount(500) }], T0)).ok).toBe(false);
    await limits.acquire('x', [slotRule(1)], 0, T0);
    await limits.acquire('y', [slotRule(5)], 0, T0);
    expect((await limits.acquire('refused', [slotRule(1)], 0, T0)).ok).toBe(false);
    expect(keeper.held()).toBe(4);
    await counters.settle('a', amount(5));
    await counters.release('b');
    await limits.cancel('x', T0);
    expect(keeper.held()).toBe(1);
    await limits.release('y');
    expect(keeper.held()).toBe(0);
    expect(await keeper.renewNow()).toEqual({ held: 0, renewed: 0, failed: [] });
  });

  it('renews in batches of at most 500, to now + lease', async () => {
    const { counters, calls } = recordingCounters();
    const keeper = new LeaseKeeper({ leaseMs: LEASE });
    const kept = keeper.budgetCounters(counters);
    for (let i = 0; i < 1_200; i++) await kept.reserve(`r${i}`, lines(1), T0);
    keeper.start(() => T0 + 5_000);
    keeper.stop();
    expect(await keeper.renewNow()).toEqual({ held: 1_200, renewed: 1_200, failed: [] });
    expect(calls.map((c) => [c.ids.length, c.at])).toEqual([
      [500, T0 + 5_000 + LEASE],
      [500, T0 + 5_000 + LEASE],
      [200, T0 + 5_000 + LEASE],
    ]);
    expect(new Set(calls.flatMap((c) => c.ids)).size).toBe(1_200);
  });

  it('reports a failed renewal, never throws, and retries on the next pass', async () => {
    const { counters, calls, control } = recordingCounters();
    const errors: Array<[string, string]> = [];
    const keeper = new LeaseKeeper({
      leaseMs: LEASE,
      onError: (err, store) => {
        errors.push([store, err instanceof CountersUnavailableError ? err.reason : String(err)]);
        throw new Error('a logger that throws');
      },
    });
    const kept = keeper.budgetCounters(counters);
    const limits = keeper.rateLimits(fromSyncRateLimits(new RateLimiter(), { leaseMs: LEASE }));
    await kept.reserve('r1', lines(1), T0);
    await limits.acquire('h1', [slotRule(1)], 0, T0);
    control.down = true;
    expect(await keeper.renewNow()).toEqual({ held: 1, renewed: 1, failed: ['budget reservations'] });
    expect(errors).toEqual([['budget reservations', 'unreachable']]);
    control.down = false;
    expect(await keeper.renewNow()).toEqual({ held: 2, renewed: 2, failed: [] });
    expect(calls.map((c) => c.ids)).toEqual([['r1']]);
  });

  it('keeps renewing a reservation whose close hit an outage for one lease (the retry window), then drops it', async () => {
    const { counters, inner, control } = recordingCounters();
    let now = T0;
    const keeper = new LeaseKeeper({ leaseMs: LEASE });
    keeper.start(() => now);
    keeper.stop();
    const kept = keeper.budgetCounters(counters);
    await kept.reserve('outage', lines(1), T0);
    await kept.reserve('bug', lines(1), T0);
    control.closeDown = true;
    await expect(kept.settle('outage', amount(1))).rejects.toBeInstanceOf(CountersUnavailableError);
    await expect(kept.release('bug')).rejects.toBeInstanceOf(RangeError);
    expect(keeper.held()).toBe(1);
    now = T0 + LEASE - 1;
    expect(await keeper.renewNow()).toEqual({ held: 1, renewed: 1, failed: [] });
    expect(await inner.reap(T0 + LEASE)).toEqual([
      expect.objectContaining({ reservationId: 'bug', leaseExpiredAtMs: T0 + LEASE }),
    ]);
    now = T0 + LEASE;
    expect(await keeper.renewNow()).toEqual({ held: 0, renewed: 0, failed: [] });
    expect(keeper.held()).toBe(0);
  });

  it('a rate limit close that fails is forgotten: nothing retries it, its slot frees at the lease', async () => {
    const keeper = new LeaseKeeper({ leaseMs: LEASE });
    const inner = fromSyncRateLimits(new RateLimiter(), { leaseMs: LEASE });
    const limits = keeper.rateLimits({
      ...inner,
      settle: async () => {
        throw new CountersUnavailableError('unreachable', 'Redis is unreachable');
      },
    });
    await limits.acquire('h1', [slotRule(1)], 0, T0);
    await expect(limits.settle('h1', 0, T0)).rejects.toBeInstanceOf(CountersUnavailableError);
    expect(keeper.held()).toBe(0);
  });

  it('ticks every lease / 3, at least every second, on an unref timer', async () => {
    expect(new LeaseKeeper({ leaseMs: 15 * 60_000 }).everyMs).toBe(5 * 60_000);
    expect(new LeaseKeeper({ leaseMs: 3_000 }).everyMs).toBe(1_000);
    expect(new LeaseKeeper({ leaseMs: 600 }).everyMs).toBe(1_000);
    expect(() => new LeaseKeeper({ leaseMs: 0 })).toThrow(RangeError);
    expect(() => new LeaseKeeper({ leaseMs: LEASE, batchSize: 501 })).toThrow(RangeError);

    vi.useFakeTimers();
    const { counters, calls } = recordingCounters();
    const keeper = new LeaseKeeper({ leaseMs: 6_000 });
    const kept = keeper.budgetCounters(counters);
    await kept.reserve('r1', lines(1), T0);
    let now = T0;
    keeper.start(() => now);
    now = T0 + 1_999;
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toEqual([]);
    now = T0 + 2_000;
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([{ ids: ['r1'], at: T0 + 8_000 }]);
    keeper.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls.length).toBe(1);
  });
});
