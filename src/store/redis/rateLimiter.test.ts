import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../../../test/helpers/redisServer.ts';
import { RateLimiter } from '../../ratelimit/limiter.ts';
import type { RateLimitRule } from '../../ratelimit/types.ts';
import { describeRateLimitsContract } from '../contract/rateLimits.contract.ts';
import { createCountersClient, waitUntilReady } from './client.ts';
import { CountersUnavailableError } from './errors.ts';
import { fromSyncRateLimits } from './fromSync.ts';
import { RedisRateLimiter } from './rateLimiter.ts';

const T0 = 1_750_000_000_000;

describeRateLimitsContract('memory (fromSync)', {
  async create(leaseMs) {
    const limits = fromSyncRateLimits(new RateLimiter(), { leaseMs });
    return { a: limits, b: limits };
  },
});

function quietClient(url: string): Redis {
  const client = createCountersClient(url);
  client.on('error', () => {});
  return client;
}

function keyRule(
  id: string,
  limits: Partial<Pick<RateLimitRule, 'rpm' | 'tpm' | 'concurrency'>>,
): RateLimitRule {
  return {
    id,
    scope: { kind: 'key', value: id },
    rpm: limits.rpm ?? null,
    tpm: limits.tpm ?? null,
    concurrency: limits.concurrency ?? null,
  };
}

(redisSuitesCanRun() ? describe : describe.skip)('Redis rate limits', () => {
  let server: RedisServer;
  let clients: [Redis, Redis];
  let nextPrefix = 0;
  const prefix = () => `test:{rl-${nextPrefix++}}`;

  beforeAll(async () => {
    server = await startRedisServer();
    clients = [quietClient(server.url), quietClient(server.url)];
    await Promise.all(clients.map((c) => waitUntilReady(c)));
  });

  afterAll(async () => {
    for (const c of clients ?? []) c.disconnect();
    await server?.stop();
  });

  describeRateLimitsContract('redis (two clients)', {
    async create(leaseMs) {
      const p = prefix();
      return {
        a: new RedisRateLimiter(clients[0], { prefix: p, leaseMs }),
        b: new RedisRateLimiter(clients[1], { prefix: p, leaseMs }),
      };
    },
  });

  it('a slot whose lease ran out stops counting even before the reaper runs', async () => {
    const p = prefix();
    const a = new RedisRateLimiter(clients[0], { prefix: p, leaseMs: 1_000 });
    const b = new RedisRateLimiter(clients[1], { prefix: p, leaseMs: 1_000 });
    const r = keyRule('k', { concurrency: 1 });
    expect((await a.acquire('dead', [r], 0, T0)).ok).toBe(true);
    expect((await b.acquire('x', [r], 0, T0 + 999)).ok).toBe(false);
    expect((await b.snapshot(r, T0 + 999)).concurrency).toEqual({ limit: 1, open: 1 });
    expect((await b.snapshot(r, T0 + 1_000)).concurrency).toEqual({ limit: 1, open: 0 });
    expect((await b.acquire('x', [r], 0, T0 + 1_000)).ok).toBe(true);
    // The dead call's handle is still listed until reaped; closing it later is a no-op for the slot.
    expect(await b.reap(T0 + 1_000)).toEqual(['dead']);
    expect((await b.snapshot(r, T0 + 1_000)).concurrency).toEqual({ limit: 1, open: 1 });
  });

  it('keeps levels exact past 14 significant digits', async () => {
    const p = prefix();
    const a = new RedisRateLimiter(clients[0], { prefix: p, leaseMs: 60_000 });
    const tpm = 999_999_937;
    const r = keyRule('big', { tpm });
    expect((await a.acquire('y', [r], 0, T0)).ok).toBe(true);
    expect((await a.acquire('x', [r], 1, T0)).ok).toBe(true);
    await a.settle('x', 3_000_000_001, T0);
    // Drained for 7 ms and written back by the cancel: 179,993,000,060,441 has 15 digits.
    await a.cancel('y', T0 + 7);
    const level = 3_000_000_001 * 60_000 - tpm * 7;
    expect(level).toBe(179_993_000_060_441);
    expect(await clients[0].hget(`${p}:level:big|key|big`, 'tk')).toBe(String(level));
    expect((await a.snapshot(r, T0 + 7)).tokens).toEqual({
      limit: tpm,
      remaining: 0,
      resetMs: Math.ceil(level / tpm),
    });
  });

  it('Redis down: CountersUnavailableError; back (even empty): works again with the same client', async () => {
    const own = await startRedisServer();
    const client = quietClient(own.url);
    try {
      await waitUntilReady(client);
      const limits = new RedisRateLimiter(client, { prefix: prefix(), leaseMs: 60_000 });
      const r = keyRule('k', { rpm: 5, concurrency: 2 });
      expect((await limits.acquire('a', [r], 0, T0)).ok).toBe(true);
      await own.kill();
      for (const call of [
        limits.acquire('b', [r], 0, T0),
        limits.settle('a', 0, T0),
        limits.release('a'),
        limits.cancel('a', T0),
        limits.snapshot(r, T0),
        limits.openCount(),
        limits.reap(T0),
      ]) {
        await expect(call).rejects.toBeInstanceOf(CountersUnavailableError);
      }
      // A call under no rule does not need Redis.
      expect((await limits.acquire('free', [], 0, T0)).ok).toBe(true);
      await own.restart();
      await waitUntilReady(client, 10_000);
      expect((await limits.acquire('b', [r], 0, T0)).ok).toBe(true);
      expect((await limits.snapshot(r, T0)).requests?.remaining).toBe(4);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});
