import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../ledger/types.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { seedSyntheticLedger } from './syntheticLedger.ts';

describe('hourly rollup (SQLite)', () => {
  it('equals the ledger rows through inserts, in-place settlements and rewrites', async () => {
    const store = openSqliteStore(':memory:');
    try {
      const fromMs = Date.UTC(2026, 10, 1);
      await seedSyntheticLedger(store.ledger, {
        rows: 3000,
        fromMs,
        toMs: fromMs + 3 * 86_400_000,
        teams: [
          { team: 'a', project: 'p', org: 'o' },
          { team: 'b', project: 'q', org: 'o' },
        ],
      });
      // A pending row settled in place, and rows rewritten with new cost, status and routing.
      const some = await store.ledger.queryCalls({ limit: 50 });
      const first = some[0] as CallRecord;
      await store.ledger.writeBatch([{ ...first, callId: 'late', status: 'pending', cost: 0 }]);
      await store.ledger.writeBatch([
        { ...first, callId: 'late', status: 'ok', cost: 123_456 },
        ...some.map((r) => ({
          ...r,
          cost: r.cost + 7,
          status: 'upstream_error' as const,
          action: 'degraded,queued',
          queueMs: 9,
        })),
      ]);
      const usage = await store.ledger.usage('team', {});
      const hours = (await store.ledger.hourlyUsage?.({ fromHour: 0, toHour: 1e9 })) ?? [];
      for (const u of usage) {
        const mine = hours.filter((h) => h.team === u.group);
        const total = (k: 'calls' | 'cost' | 'denied' | 'errors' | 'degraded' | 'queued' | 'queueMs') =>
          mine.reduce((s, h) => s + h[k], 0);
        expect([
          total('calls'),
          total('cost'),
          total('denied'),
          total('errors'),
          total('degraded'),
          total('queued'),
          total('queueMs'),
        ]).toEqual([u.calls, u.cost, u.denied, u.errors, u.degraded, u.queued, u.queueMs]);
      }
      expect(usage.length).toBe(2);
    } finally {
      await store.close();
    }
  });
});
