import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AlertEvent,
  buildAlertEvent,
  buildRunawayEvent,
  type RunawayEvent,
} from '../../alerts/events.ts';
import type { AlertStore, DeliveryAttempt } from '../../alerts/store.ts';
import { alertWindowId } from '../../alerts/thresholds.ts';
import { policy } from '../../budget/testPolicies.ts';
import { currentWindow } from '../../budget/windows.ts';
import type { VelocityTrip } from '../../runaway/types.ts';
import type { ReplicaPair } from './idempotencyStore.contract.ts';

export type AlertStoreFactory = () => Promise<ReplicaPair<AlertStore>>;

const T0 = Date.UTC(2026, 10, 15, 12);

function budgetEvent(id: string, policyId: string, threshold: number, atMs = T0): AlertEvent {
  const p = policy(policyId, {}, { requests: 1000 });
  const window = currentWindow(p.window, atMs);
  return buildAlertEvent({
    id,
    policy: p,
    threshold,
    windowId: alertWindowId(p, window),
    window,
    spent: { nanos: 0, tokens: 0, requests: Math.round(threshold * 1000) },
    atMs,
    reason: 'spend',
  });
}

function runawayEvent(id: string, at: number): RunawayEvent {
  const trip: VelocityTrip = {
    kind: 'velocity',
    keyId: 'key_abc',
    feature: null,
    action: 'alert',
    untilMs: null,
    reason: 'too fast',
    at,
    detail: {
      scope: 'key',
      currentNanosPerMin: 10_500_000_000,
      baselineNanosPerMin: 1_000_000_000,
      thresholdNanosPerMin: 10_000_000_000,
      factor: 10,
      calls: 42,
      warmingUp: false,
      windowMs: 60_000,
    },
  };
  return buildRunawayEvent(id, trip, { org: 'acme', team: 'search', project: 'web', env: 'prod' });
}

function delivery(
  eventId: string,
  attempt: number,
  overrides: Partial<DeliveryAttempt> = {},
): DeliveryAttempt {
  return {
    eventId,
    targetId: 'ops',
    attempt,
    ts: T0 + attempt,
    ok: false,
    httpStatus: 500,
    error: 'HTTP 500: boom',
    ...overrides,
  };
}

export function alertStoreContract(name: string, open: AlertStoreFactory): void {
  describe(`AlertStore contract: ${name}`, () => {
    let pair: ReplicaPair<AlertStore>;
    let one: AlertStore;
    let two: AlertStore;
    beforeEach(async () => {
      pair = await open();
      one = pair.one;
      two = pair.two;
    });
    afterEach(async () => {
      await pair.close();
    });

    it('the same threshold inserted by two instances at once is stored once: one true', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? one : two).insertEvent(budgetEvent(`evt_${i}`, 'team-a', 0.5), T0),
        ),
      );
      expect(results.filter((r) => r)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect(await one.listEvents({ limit: 10 })).toEqual([budgetEvent(`evt_${winner}`, 'team-a', 0.5)]);
      expect(await two.firedKeys()).toEqual([
        { policyId: 'team-a', windowId: budgetEvent('x', 'team-a', 0.5).windowId, threshold: 0.5 },
      ]);
      // Another threshold, or the same one in the next window, is a new event.
      expect(await two.insertEvent(budgetEvent('evt_b', 'team-a', 0.8), T0 + 1)).toBe(true);
      const nextMonth = Date.UTC(2026, 11, 2);
      expect(await one.insertEvent(budgetEvent('evt_c', 'team-a', 0.5, nextMonth), nextMonth)).toBe(true);
    });

    it('lists budget events newest first, by policy, and fired keys oldest first; runaway rows apart', async () => {
      await one.insertEvent(budgetEvent('evt_1', 'team-a', 0.5), T0);
      await two.insertEvent(budgetEvent('evt_2', 'team-b', 0.5), T0 + 1);
      await one.insertEvent(budgetEvent('evt_3', 'team-a', 0.8), T0 + 1);
      await two.insertRunaway(runawayEvent('evt_r1', T0), T0 + 2);
      expect((await two.listEvents({ limit: 10 })).map((e) => e.id)).toEqual(['evt_3', 'evt_2', 'evt_1']);
      expect((await two.listEvents({ limit: 2 })).map((e) => e.id)).toEqual(['evt_3', 'evt_2']);
      expect((await two.listEvents({ policyId: 'team-a', limit: 10 })).map((e) => e.id)).toEqual([
        'evt_3',
        'evt_1',
      ]);
      expect((await one.firedKeys()).map((k) => [k.policyId, k.threshold])).toEqual([
        ['team-a', 0.5],
        ['team-b', 0.5],
        ['team-a', 0.8],
      ]);
    });

    it('stores a runaway trip once and lists trips newest first', async () => {
      const first = runawayEvent('evt_r1', T0);
      const second = runawayEvent('evt_r2', T0 + 60_000);
      expect(await one.insertRunaway(first, T0)).toBe(true);
      expect(await two.insertRunaway(runawayEvent('evt_r1_again', T0), T0 + 5)).toBe(false);
      expect(await two.insertRunaway(second, T0 + 60_000)).toBe(true);
      expect(await one.listRunaway({ limit: 10 })).toEqual([second, first]);
      expect(await one.listRunaway({ limit: 1 })).toEqual([second]);
      expect(await one.listEvents({ limit: 10 })).toEqual([]);
      expect(await one.firedKeys()).toEqual([]);
    });

    it('logs delivery attempts from every instance, newest first, filtered by event', async () => {
      await one.recordDelivery(delivery('evt_1', 1));
      await two.recordDelivery(delivery('evt_2', 1, { ok: true, httpStatus: 200, error: null }));
      await two.recordDelivery(delivery('evt_1', 2, { httpStatus: null, error: 'timeout after 100ms' }));
      expect(await one.listDeliveries({ limit: 10 })).toEqual([
        delivery('evt_1', 2, { httpStatus: null, error: 'timeout after 100ms' }),
        delivery('evt_2', 1, { ok: true, httpStatus: 200, error: null }),
        delivery('evt_1', 1),
      ]);
      expect((await two.listDeliveries({ eventId: 'evt_1', limit: 10 })).map((d) => d.attempt)).toEqual([
        2, 1,
      ]);
      expect(await two.listDeliveries({ eventId: 'evt_1', limit: 1 })).toHaveLength(1);
    });
  });
}
