import { describe, expect, it } from 'vitest';
import { policy } from '../../budget/testPolicies.ts';
import type { ReserveLine } from '../../budget/types.ts';
import { RateLimiter } from '../../ratelimit/limiter.ts';
import { MemoryBudgetCounters } from '../memory/budgetCounters.ts';
import { CountersUnavailableError } from './errors.ts';
import { fromSync, fromSyncRateLimits } from './fromSync.ts';
import { LeaseKeeper, RESERVATION_RECORDS, type Renew } from './leaseKeeper.ts';
import type { AsyncBudgetCounters } from './types.ts';

const T0 = Date.parse('2025-06-10T12:00:00Z');
const LEASE = 60_000;
const team = policy('team/1', {}, { usdNanos: 10_000 });
const lines = (nanos: number): ReserveLine[] => [{ policy: team, amount: { nanos, tokens: 0, requests: 1 } }];

/** Budget counters whose renewal can be made to fail, and a record store that logs what it got. */
function setup(recordsFail = false) {
  const control = { countersDown: false, recordsDown: recordsFail };
  const order: string[] = [];
  const inner = fromSync(new MemoryBudgetCounters(), { leaseMs: LEASE });
  const counters: AsyncBudgetCounters = {
    ...inner,
    async renew(ids, at) {
      order.push('counters');
      if (control.countersDown) throw new CountersUnavailableError('unreachable', 'Redis is unreachable');
      return inner.renew(ids, at);
    },
  };
  const records: Array<{ ids: string[]; at: number }> = [];
  const renewRecords: Renew = async (ids, at) => {
    order.push('records');
    if (control.recordsDown) throw new Error('ledger unreachable');
    records.push({ ids: [...ids], at });
    return ids.filter((id) => id !== 'no-row#1').length;
  };
  const errors: string[] = [];
  const keeper = new LeaseKeeper({
    leaseMs: LEASE,
    batchSize: 2,
    onError: (_err, store) => errors.push(store),
    renewReservationRecords: renewRecords,
  });
  const kept = keeper.budgetCounters(counters);
  const limits = keeper.rateLimits(fromSyncRateLimits(new RateLimiter(), { leaseMs: LEASE }));
  let now = T0;
  keeper.start(() => now);
  keeper.stop();
  return {
    keeper,
    kept,
    limits,
    records,
    errors,
    order,
    control,
    at: (ms: number) => {
      now = ms;
    },
  };
}

describe('LeaseKeeper: the records of held reservations', () => {
  it('renews the held reservations’ records after them, in batches, to the same lease; not closed ones, not rate limit handles', async () => {
    const { keeper, kept, limits, records, order, at } = setup();
    for (const id of ['c1#1', 'c2#1', 'c2#2', 'no-row#1', 'done#1']) await kept.reserve(id, lines(10), T0);
    await limits.acquire(
      'c1',
      [{ id: 'cc', scope: { kind: 'key', value: 'k' }, rpm: null, tpm: null, concurrency: 5 }],
      0,
      T0,
    );
    await kept.settle('done#1', { nanos: 5, tokens: 0, requests: 1 });
    at(T0 + 20_000);
    expect(await keeper.renewNow()).toEqual({ held: 5, renewed: 5, failed: [], records: 3 });
    expect(records).toEqual([
      { ids: ['c1#1', 'c2#1'], at: T0 + 20_000 + LEASE },
      { ids: ['c2#2', 'no-row#1'], at: T0 + 20_000 + LEASE },
    ]);
    // Budget reservations first (2 batches), then their records (2 batches), then rate limits.
    expect(order).toEqual(['counters', 'counters', 'records', 'records']);
  });

  it('renews the records even when the reservations’ store is down: the calls still run', async () => {
    const { keeper, kept, records, errors, control } = setup();
    await kept.reserve('c1#1', lines(10), T0);
    control.countersDown = true;
    expect(await keeper.renewNow()).toEqual({
      held: 0,
      renewed: 0,
      failed: ['budget reservations'],
      records: 1,
    });
    expect(errors).toEqual(['budget reservations']);
    expect(records.map((r) => r.ids)).toEqual([['c1#1']]);
  });

  it('reports a failed records renewal under its own name, never throws, and retries next pass', async () => {
    const { keeper, kept, records, errors, control } = setup(true);
    await kept.reserve('c1#1', lines(10), T0);
    expect(await keeper.renewNow()).toEqual({
      held: 1,
      renewed: 1,
      failed: [RESERVATION_RECORDS],
      records: 0,
    });
    expect(errors).toEqual([RESERVATION_RECORDS]);
    control.recordsDown = false;
    expect(await keeper.renewNow()).toEqual({ held: 1, renewed: 1, failed: [], records: 1 });
    expect(records.map((r) => r.ids)).toEqual([['c1#1']]);
  });

  it('reports no record count when no records renewal is configured', async () => {
    const keeper = new LeaseKeeper({ leaseMs: LEASE });
    const kept = keeper.budgetCounters(fromSync(new MemoryBudgetCounters(), { leaseMs: LEASE }));
    await kept.reserve('c1#1', lines(10), T0);
    const pass = await keeper.renewNow();
    expect(pass).toStrictEqual({ held: 1, renewed: 1, failed: [] });
  });
});
