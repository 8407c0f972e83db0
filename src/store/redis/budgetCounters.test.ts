import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisSuitesCanRun, startRedisServer } from '../../../test/helpers/redisServer.ts';
import { policy } from '../../budget/testPolicies.ts';
import type { Amount, ReserveLine } from '../../budget/types.ts';
import { describeBudgetCountersContract } from '../contract/budgetCounters.contract.ts';
import { describeRollingWindowContract } from '../contract/budgetRolling.contract.ts';
import { MemoryBudgetCounters } from '../memory/budgetCounters.ts';
import { RedisBudgetCounters } from './budgetCounters.ts';
import { createCountersClient, waitUntilReady } from './client.ts';
import { CountersUnavailableError } from './errors.ts';
import { fromSync } from './fromSync.ts';

const T0 = Date.parse('2025-06-10T12:00:00Z');
const MINUTE = 60_000;

function amount(nanos: number, tokens = 0, requests = 1): Amount {
  return { nanos, tokens, requests };
}

const memoryFactory = {
  async create(leaseMs: number) {
    const counters = fromSync(new MemoryBudgetCounters(), { leaseMs });
    return { a: counters, b: counters };
  },
};
describeBudgetCountersContract('memory (fromSync)', memoryFactory);
describeRollingWindowContract('memory (fromSync)', memoryFactory);

function quietClient(url: string, overrides: Parameters<typeof createCountersClient>[1] = {}): Redis {
  const client = createCountersClient(url, overrides);
  // Connection errors surface as rejected calls; the event would only log them twice.
  client.on('error', () => {});
  return client;
}

async function expectUnavailable(promise: Promise<unknown>, reason: CountersUnavailableError['reason']) {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CountersUnavailableError);
  expect(err instanceof CountersUnavailableError ? [err.reason, err.code] : null).toEqual([
    reason,
    'store_unavailable',
  ]);
}

(redisSuitesCanRun() ? describe : describe.skip)('Redis budget counters', () => {
  let server: RedisServer;
  let clients: [Redis, Redis];
  let nextPrefix = 0;
  const prefix = () => `test:{budgets-${nextPrefix++}}`;

  beforeAll(async () => {
    server = await startRedisServer();
    clients = [quietClient(server.url), quietClient(server.url)];
    await Promise.all(clients.map((c) => waitUntilReady(c)));
  });

  afterAll(async () => {
    for (const c of clients ?? []) c.disconnect();
    await server?.stop();
  });

  const redisFactory = {
    async create(leaseMs: number) {
      const p = prefix();
      const a = new RedisBudgetCounters(clients[0], { prefix: p, leaseMs });
      const b = new RedisBudgetCounters(clients[1], { prefix: p, leaseMs });
      expect(await a.seed(async () => {})).toBe('seeded');
      return { a, b };
    },
  };
  describeBudgetCountersContract('redis (two clients)', redisFactory);
  describeRollingWindowContract('redis (two clients)', redisFactory);

  it('keeps the documented key layout; settled slots expire, closed reservations leave nothing', async () => {
    const p = prefix();
    const c = new RedisBudgetCounters(clients[0], { prefix: p, leaseMs: MINUTE });
    await c.seed(async () => {});
    const team = policy('team/1', {}, { usdNanos: 1000 });
    await c.reserve('r1', [{ policy: team, amount: amount(300, 5) }], T0);
    const keys = (await clients[0].keys(`${p}:*`)).sort();
    const june = Date.parse('2025-06-01T00:00:00Z');
    expect(keys).toEqual([
      `${p}:leases`,
      `${p}:res:r1`,
      `${p}:reserved:team%2F1|calendar:month:UTC`,
      `${p}:seeded`,
    ]);
    expect(await clients[0].zscore(`${p}:leases`, 'r1')).toBe(String(T0 + MINUTE));
    expect(await clients[0].hgetall(`${p}:reserved:team%2F1|calendar:month:UTC`)).toEqual({
      n: '300',
      t: '5',
      r: '1',
    });
    await c.settle('r1', amount(200, 4));
    const slot = `${p}:spent:team%2F1|calendar:month:UTC:${june}`;
    expect(await clients[0].hgetall(slot)).toEqual({ n: '200', t: '4', r: '1' });
    // Kept until the window ends plus three windows back, counted from the reservation time.
    const july = Date.parse('2025-07-01T00:00:00Z');
    const kept = july + 3 * (july - june) - T0;
    const ttl = await clients[0].pttl(slot);
    expect(ttl).toBeGreaterThan(kept - 5_000);
    expect(ttl).toBeLessThanOrEqual(kept);
    expect(await clients[0].exists(`${p}:res:r1`)).toBe(0);
    expect(await clients[0].zcard(`${p}:leases`)).toBe(0);
  });

  it('reloads its scripts after Redis forgot them (SCRIPT FLUSH, as after a restart)', async () => {
    const c = new RedisBudgetCounters(clients[0], { prefix: prefix(), leaseMs: MINUTE });
    await c.seed(async () => {});
    const p = policy('p', {}, { usdNanos: 10 });
    expect((await c.reserve('a', [{ policy: p, amount: amount(4) }], T0)).ok).toBe(true);
    await clients[0].script('FLUSH');
    expect(await c.settle('a', amount(4))).toBe(true);
    expect((await c.state(p, T0)).spent).toEqual(amount(4));
  });

  it('refuses every call as not_seeded until one replica rebuilds from the ledger', async () => {
    const p = prefix();
    const a = new RedisBudgetCounters(clients[0], { prefix: p, leaseMs: MINUTE });
    const b = new RedisBudgetCounters(clients[1], { prefix: p, leaseMs: MINUTE });
    const cap = policy('cap', {}, { usdNanos: 1000 });
    const line = (n: number): ReserveLine[] => [{ policy: cap, amount: amount(n) }];
    await expectUnavailable(a.reserve('x', line(1), T0), 'not_seeded');
    await expectUnavailable(a.state(cap, T0), 'not_seeded');
    await expectUnavailable(a.settle('x', amount(1)), 'not_seeded');
    await expectUnavailable(a.addSpent(cap, amount(1), T0), 'not_seeded');
    await expectUnavailable(a.reap(T0), 'not_seeded');
    // Leftovers of an earlier, interrupted rebuild are wiped first.
    await clients[0].hset(
      `${p}:spent:cap|calendar:month:UTC:${Date.parse('2025-06-01T00:00:00Z')}`,
      'n',
      '999',
    );

    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = a.seed(async (sink) => {
      // Pending rows first (calls still running), then settled ones.
      await sink.restoreReservation('running', line(300), T0 - 1000, T0 + MINUTE);
      await gate;
      await sink.addSpent(cap, amount(400, 2), T0 - 5000);
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(await b.seed(async () => {})).toBe('busy');
    await expectUnavailable(b.reserve('x', line(1), T0), 'not_seeded');
    release();
    expect(await first).toBe('seeded');
    expect(await b.seed(async () => {})).toBe('already_seeded');

    expect(await b.state(cap, T0)).toMatchObject({ spent: amount(400, 2), reserved: amount(300) });
    expect(await b.reserve('x', line(301), T0)).toMatchObject({ ok: false, remaining: { nanos: 300 } });
    // The running call settles normally against its restored reservation.
    expect(await b.settle('running', amount(250))).toBe(true);
    expect((await a.state(cap, T0)).spent).toEqual(amount(650, 2, 2));
  });

  describe('rolling windows: running sums', () => {
    const HOUR = 60 * MINUTE;
    const hourly = policy(
      'team/1',
      {},
      { usdNanos: 10_000 },
      { window: { kind: 'rolling', sizeMs: HOUR, bucketMs: MINUTE } },
    );
    const policyKey = 'team%2F1|rolling:3600000:60000';
    const slotOf = (p: string, slot: number) => `${p}:spent:${policyKey}:${slot}`;

    async function counters() {
      const p = prefix();
      const c = new RedisBudgetCounters(clients[0], { prefix: p, leaseMs: HOUR });
      await c.seed(async () => {});
      return { p, c, sum: `${p}:win:${policyKey}` };
    }

    async function hmgets(): Promise<number> {
      const stats = await clients[0].info('commandstats');
      return Number(/cmdstat_hmget:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    }

    it('keeps one running-sum hash per rolling policy: n/t/r over slots f..l and the oldest with spend', async () => {
      const { p, c, sum } = await counters();
      await c.addSpent(hourly, amount(70, 3), T0 - 30 * MINUTE);
      expect(await clients[0].exists(sum)).toBe(0);
      await c.reserve('r1', [{ policy: hourly, amount: amount(300, 5) }], T0 + 30_000);
      expect(await clients[0].hgetall(sum)).toEqual({
        n: '70',
        t: '3',
        r: '1',
        f: String(T0 - 60 * MINUTE),
        l: String(T0),
        o: String(T0 - 30 * MINUTE),
      });
      await c.settle('r1', amount(200, 4));
      expect(await clients[0].hgetall(slotOf(p, T0))).toEqual({ n: '200', t: '4', r: '1' });
      expect(await clients[0].hmget(sum, 'n', 't', 'r', 'o')).toEqual([
        '270',
        '7',
        '2',
        String(T0 - 30 * MINUTE),
      ]);
      // Kept as long as a slot: two windows and a bucket.
      const ttl = await clients[0].pttl(sum);
      expect(ttl).toBeGreaterThan(2 * HOUR + MINUTE - 5_000);
      expect(ttl).toBeLessThanOrEqual(2 * HOUR + MINUTE);
    });

    it('a reserve reads two hashes (sum and reserved) plus one per bucket that moved; a settle one', async () => {
      const { c } = await counters();
      for (let m = 0; m < 60; m++) await c.addSpent(hourly, amount(1), T0 - m * MINUTE);
      const line = (n: number): ReserveLine[] => [{ policy: hourly, amount: amount(n) }];
      await c.state(hourly, T0);
      let before = await hmgets();
      expect((await c.reserve('same-bucket', line(5), T0 + 10_000)).ok).toBe(true);
      expect((await hmgets()) - before).toBe(2);
      before = await hmgets();
      // The window moved one bucket: the one that left and the one that came in are read.
      expect((await c.reserve('next-bucket', line(5), T0 + MINUTE + 10_000)).ok).toBe(true);
      expect((await hmgets()) - before).toBe(4);
      before = await hmgets();
      expect(await c.settle('next-bucket', amount(5))).toBe(true);
      expect((await hmgets()) - before).toBe(1);
      before = await hmgets();
      expect((await c.state(hourly, T0 + MINUTE + 20_000)).spent).toEqual(amount(65, 0, 61));
      expect((await hmgets()) - before).toBe(2);
    });

    it('a store without running sums (older layout, or the sum expired) derives them from the slots', async () => {
      const { p, c, sum } = await counters();
      // Slots as an older deployment left them.
      await clients[0].hset(slotOf(p, T0 - 59 * MINUTE), { n: '11', t: '1', r: '1' });
      await clients[0].hset(slotOf(p, T0 - 20 * MINUTE), { n: '22', r: '1' });
      await clients[0].hset(slotOf(p, T0 - 61 * MINUTE), { n: '1000', r: '1' });
      expect(await c.state(hourly, T0 + 1)).toMatchObject({
        spent: amount(33, 1, 2),
        window: { resetsAtMs: T0 + 2 * MINUTE - 1 },
      });
      await c.addSpent(hourly, amount(4), T0);
      await clients[0].del(sum);
      // Booked while the sum is gone: counted when it is derived again.
      await c.addSpent(hourly, amount(5), T0 - MINUTE);
      expect((await c.state(hourly, T0 + 2)).spent).toEqual(amount(42, 1, 4));
      expect(await c.reserve('x', [{ policy: hourly, amount: amount(10_000 - 41) }], T0 + 3)).toMatchObject({
        ok: false,
        remaining: { nanos: 10_000 - 42 },
        resetsAtMs: T0 + 2 * MINUTE - 1,
      });
    });

    it('slots expire while a window idles: the stale sum is rebuilt, not moved', async () => {
      const { p, c } = await counters();
      for (let m = 0; m < 60; m += 5) await c.addSpent(hourly, amount(10), T0 + m * MINUTE);
      expect((await c.state(hourly, T0 + 59 * MINUTE)).spent.nanos).toBe(120);
      // 1h50 later, as Redis would by then: the slots older than two windows and a bucket are gone.
      const now = T0 + 169 * MINUTE;
      for (let m = 0; m < 60; m += 5) {
        if (T0 + m * MINUTE + MINUTE + 2 * HOUR < now) await clients[0].del(slotOf(p, T0 + m * MINUTE));
      }
      await c.addSpent(hourly, amount(3), now);
      expect((await c.state(hourly, now)).spent).toEqual(amount(3));
      expect((await c.state(hourly, T0 + 100 * MINUTE)).spent).toEqual(amount(20, 0, 2));
    });

    it('seeded from the ledger, then reserved against: the rebuilt slots and restored reservations count', async () => {
      const p = prefix();
      const [a, b] = [0, 1].map(
        (i) => new RedisBudgetCounters(clients[i as 0 | 1], { prefix: p, leaseMs: HOUR }),
      ) as [RedisBudgetCounters, RedisBudgetCounters];
      // Leftovers of an earlier store, running sum included, are wiped by the rebuild.
      await clients[0].hset(`${p}:win:${policyKey}`, {
        n: '5000',
        t: '0',
        r: '9',
        f: String(T0 - HOUR),
        l: String(T0),
        o: '-1',
      });
      const line = (n: number): ReserveLine[] => [{ policy: hourly, amount: amount(n) }];
      expect(
        await a.seed(async (sink) => {
          await sink.restoreReservation('running', line(3_000), T0 - 10 * MINUTE, T0 + HOUR);
          await sink.addSpent(hourly, amount(4_000, 7), T0 - 50 * MINUTE);
          await sink.addSpent(hourly, amount(2_000, 1), T0 - 70 * MINUTE);
        }),
      ).toBe('seeded');
      expect(await clients[0].exists(`${p}:win:${policyKey}`)).toBe(0);
      expect(await b.state(hourly, T0)).toMatchObject({ spent: amount(4_000, 7), reserved: amount(3_000) });
      expect(await b.reserve('over', line(3_001), T0)).toMatchObject({
        ok: false,
        remaining: { nanos: 3_000 },
        resetsAtMs: T0 + 11 * MINUTE - 1,
      });
      expect((await a.reserve('fits', line(3_000), T0)).ok).toBe(true);
      // The restored reservation settles into its own (earlier) slot, inside the window.
      expect(await b.settle('running', amount(2_500))).toBe(true);
      expect(await a.state(hourly, T0)).toMatchObject({
        spent: amount(6_500, 7, 2),
        reserved: amount(3_000),
      });
      expect((await a.state(hourly, T0 + 11 * MINUTE - 1)).spent).toEqual(amount(2_500, 0, 1));
    });
  });

  it('a rebuild whose lock was taken over stops writing', async () => {
    const p = prefix();
    const a = new RedisBudgetCounters(clients[0], { prefix: p, leaseMs: MINUTE });
    const cap = policy('cap', {}, { usdNanos: 1000 });
    const outcome = a.seed(async (sink) => {
      await sink.addSpent(cap, amount(1), T0);
      await clients[1].set(`${p}:seeding`, 'another-replica');
      await sink.addSpent(cap, amount(1), T0);
    });
    await expect(outcome).rejects.toThrow('another replica took over the rebuild');
    expect(await a.isSeeded()).toBe(false);
    expect(await clients[0].get(`${p}:seeding`)).toBe('another-replica');
  });

  it('fails fast with CountersUnavailableError when Redis was never reachable', async () => {
    const dead = quietClient('redis://127.0.0.1:1');
    try {
      const c = new RedisBudgetCounters(dead, { prefix: prefix(), leaseMs: MINUTE });
      const started = Date.now();
      await expectUnavailable(
        c.reserve('x', [{ policy: policy('p', {}), amount: amount(1) }], T0),
        'unreachable',
      );
      await expectUnavailable(c.openReservations(), 'unreachable');
      await expectUnavailable(
        c.seed(async () => {}),
        'unreachable',
      );
      expect(Date.now() - started).toBeLessThan(1_000);
      // A call under no policy needs no shared state and still works.
      expect(await c.reserve('free', [], T0)).toEqual({ ok: true, reservationId: 'free' });
    } finally {
      dead.disconnect();
    }
  });

  it('a hung Redis times out as unavailable instead of holding the call', async () => {
    const own = await startRedisServer();
    const client = quietClient(own.url, { commandTimeout: 200 });
    try {
      await waitUntilReady(client);
      const c = new RedisBudgetCounters(client, { prefix: prefix(), leaseMs: MINUTE });
      await c.seed(async () => {});
      own.pause();
      const started = Date.now();
      await expectUnavailable(c.state(policy('p', {}), T0), 'unreachable');
      expect(Date.now() - started).toBeLessThan(1_000);
      own.resume();
    } finally {
      client.disconnect();
      await own.stop();
    }
  });

  it('Redis killed mid-load: only CountersUnavailableError, no overspend, recovery without a restart', async () => {
    const own = await startRedisServer();
    const replicas = [quietClient(own.url), quietClient(own.url)];
    try {
      await Promise.all(replicas.map((c) => waitUntilReady(c)));
      const p = prefix();
      const [a, b] = replicas.map((c) => new RedisBudgetCounters(c, { prefix: p, leaseMs: MINUTE })) as [
        RedisBudgetCounters,
        RedisBudgetCounters,
      ];
      await a.seed(async () => {});
      const CAP = 2_000_000;
      const cap = policy('cap', {}, { usdNanos: CAP });

      // The ledger as the gateway would write it: a row per call that was forwarded.
      const ledger: Array<{ atMs: number; cost: number }> = [];
      const errors: unknown[] = [];
      let seq = 0;
      let stop = false;
      const worker = async (c: RedisBudgetCounters) => {
        while (!stop) {
          const n = seq++;
          const id = `w${n}`;
          const worst = 3 + (n % 97);
          try {
            const outcome = await c.reserve(id, [{ policy: cap, amount: amount(worst) }], T0);
            if (!outcome.ok) continue;
            const cost = worst - (n % 3);
            // The call ran: its row is final at the actual cost whether or not the settle lands.
            ledger.push({ atMs: T0, cost });
            await c.settle(id, amount(cost));
          } catch (err) {
            errors.push(err);
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      };
      const workers = Array.from({ length: 16 }, (_, i) => worker(i % 2 === 0 ? a : b));
      await new Promise((r) => setTimeout(r, 150));
      const beforeKill = ledger.length;
      await own.kill();
      await new Promise((r) => setTimeout(r, 100));
      expect(beforeKill).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(0);
      for (const err of errors) expect(err).toBeInstanceOf(CountersUnavailableError);

      // Down: every call says so, at once.
      await expectUnavailable(a.reserve('down', [{ policy: cap, amount: amount(1) }], T0), 'unreachable');
      await expectUnavailable(b.state(cap, T0), 'unreachable');
      await expectUnavailable(a.reap(T0), 'unreachable');

      // Back, but empty: still closed until the counters are rebuilt from the ledger.
      await own.restart();
      await Promise.all(replicas.map((c) => waitUntilReady(c, 10_000)));
      await expectUnavailable(b.reserve('empty', [{ policy: cap, amount: amount(1) }], T0), 'not_seeded');
      stop = true;
      await Promise.all(workers);
      for (const err of errors) expect(err).toBeInstanceOf(CountersUnavailableError);

      expect(
        await b.seed(async (sink) => {
          for (const row of ledger) await sink.addSpent(cap, amount(row.cost), row.atMs);
        }),
      ).toBe('seeded');
      const booked = ledger.reduce((s, row) => s + row.cost, 0);
      expect((await a.state(cap, T0)).spent).toEqual(amount(booked, 0, ledger.length));
      expect(booked).toBeLessThanOrEqual(CAP);

      // Same clients, no restart: fill the cap from both replicas; it holds.
      const left = CAP - booked;
      const outcomes = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          (i % 2 === 0 ? a : b).reserve(`after${i}`, [{ policy: cap, amount: amount(10_000) }], T0),
        ),
      );
      expect(outcomes.filter((o) => o.ok).length).toBe(Math.min(400, Math.floor(left / 10_000)));
      const state = await a.state(cap, T0);
      expect(state.spent.nanos + state.reserved.nanos).toBeLessThanOrEqual(CAP);
    } finally {
      for (const c of replicas) c.disconnect();
      await own.stop();
    }
  });
});
