import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type RawRunawayConfig, runawaySettings } from './config.ts';
import { RunawayDetector } from './detector.ts';
import type { Trip } from './types.ts';

const T0 = Date.UTC(2025, 0, 1); // a whole number of 10 s buckets
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** $1/min as one call per 10 s. */
const STEADY_COST = 166_666_667;

const detector = (raw: RawRunawayConfig = {}) => new RunawayDetector(runawaySettings(raw));

/** One call every `everyMs` from `fromMs` (inclusive) to `toMs` (exclusive); returns the trips. */
function spend(
  d: RunawayDetector,
  keyId: string,
  feature: string | null,
  cost: number,
  everyMs: number,
  fromMs: number,
  toMs: number,
): Trip[] {
  const trips: Trip[] = [];
  for (let t = fromMs; t < toMs; t += everyMs) {
    const trip = d.observeSpend(keyId, feature, cost, t);
    if (trip) trips.push(trip);
  }
  return trips;
}

describe('velocity', () => {
  it('steady spend at its baseline never trips, from a cold start through hours', () => {
    const d = detector({ action: 'suspend' });
    expect(spend(d, 'k1', 'search', STEADY_COST, 10 * SECOND, T0, T0 + 4 * HOUR)).toEqual([]);
    expect(d.check('k1', T0 + 4 * HOUR)).toEqual({ suspended: false });
  });

  it('steady spend at any rate and call period never trips (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }), // seconds between calls
        fc.integer({ min: 500_000_000, max: 500_000_000_000 }), // nanos per minute: $0.50 .. $500
        fc.integer({ min: 0, max: 9_999 }), // start offset inside a bucket
        (everySec, nanosPerMin, offset) => {
          const d = detector({ action: 'suspend' });
          // Above the warmup ceiling only a ledger-seeded baseline can know the rate is normal.
          if (nanosPerMin >= 4_500_000_000) d.seedBaseline('k', null, nanosPerMin, T0 + offset);
          const cost = Math.round((nanosPerMin * everySec) / 60);
          const trips = spend(d, 'k', null, cost, everySec * SECOND, T0 + offset, T0 + offset + 90 * MINUTE);
          expect(trips).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a 20× burst trips once, suspends for the cooldown, and check() refuses until it ends', () => {
    const d = detector({ action: 'suspend' });
    const burstAt = T0 + 2 * HOUR;
    expect(spend(d, 'k1', null, STEADY_COST, 10 * SECOND, T0, burstAt)).toEqual([]);
    // $20/min: one call a second. The window still holds 3 steady buckets when the 30th burst
    // call lands; less its largest call: 3 × 166666667 + 29 × 333333334 > 10 × $1.000000002/min.
    const trips = spend(d, 'k1', null, 333_333_334, SECOND, burstAt, burstAt + 5 * MINUTE);
    const at = burstAt + 29 * SECOND;
    expect(trips).toEqual([
      {
        kind: 'velocity',
        keyId: 'k1',
        feature: null,
        action: 'suspend',
        untilMs: at + 15 * MINUTE,
        reason: 'key k1 spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
        at,
        detail: {
          scope: 'key',
          currentNanosPerMin: 10_500_000_021,
          baselineNanosPerMin: 1_000_000_002,
          thresholdNanosPerMin: 10_000_000_020,
          factor: 10,
          calls: 33,
          warmingUp: false,
          windowMs: MINUTE,
        },
      },
    ]);
    expect(d.check('k1', at)).toEqual({
      suspended: true,
      untilMs: at + 15 * MINUTE,
      reason: 'key k1 spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
      kind: 'velocity',
    });
    expect(d.check('k1', at + 15 * MINUTE - 1).suspended).toBe(true);
    expect(d.check('k2', at)).toEqual({ suspended: false });
    expect(d.suspensions(at + MINUTE).map((s) => [s.keyId, s.sinceMs, s.untilMs])).toEqual([
      ['k1', at, at + 15 * MINUTE],
    ]);
    expect(d.check('k1', at + 15 * MINUTE)).toEqual({ suspended: false });
    expect(d.suspensions(at + 15 * MINUTE)).toEqual([]);
  });

  it('with action=alert the same burst reports a trip but suspends nothing', () => {
    const d = detector();
    const burstAt = T0 + 2 * HOUR;
    spend(d, 'k1', null, STEADY_COST, 10 * SECOND, T0, burstAt);
    const trips = spend(d, 'k1', null, 333_333_334, SECOND, burstAt, burstAt + 5 * MINUTE);
    expect(trips.map((t) => [t.kind, t.action, t.untilMs, t.at])).toEqual([
      ['velocity', 'alert', null, burstAt + 29 * SECOND],
    ]);
    expect(d.check('k1', burstAt + MINUTE)).toEqual({ suspended: false });
  });

  it('a runaway is not learnt as normal: it trips again each cooldown while it goes on', () => {
    const d = detector();
    const burstAt = T0 + 2 * HOUR;
    spend(d, 'k1', null, STEADY_COST, 10 * SECOND, T0, burstAt);
    // $100/min for an hour. 5 steady buckets + 7 burst calls, less one, pass $10/min at burstAt + 6 s.
    const trips = spend(d, 'k1', null, 1_666_666_667, SECOND, burstAt, burstAt + HOUR);
    const first = burstAt + 6 * SECOND;
    expect(trips.map((t) => [t.at, t.detail])).toEqual(
      [0, 1, 2, 3].map((n) => [
        first + n * 15 * MINUTE,
        expect.objectContaining({ baselineNanosPerMin: 1_000_000_002, warmingUp: false }),
      ]),
    );
  });

  it('rebaseline() accepts the current rate as the new normal', () => {
    const d = detector();
    const burstAt = T0 + 2 * HOUR;
    spend(d, 'k1', 'f', STEADY_COST, 10 * SECOND, T0, burstAt);
    expect(spend(d, 'k1', 'f', 1_666_666_667, SECOND, burstAt, burstAt + 2 * MINUTE)).toHaveLength(1);
    expect(d.rebaseline('k1', burstAt + 2 * MINUTE)).toBe(2);
    expect(d.rebaseline('k10', burstAt + 2 * MINUTE)).toBe(0);
    expect(spend(d, 'k1', 'f', 1_666_666_667, SECOND, burstAt + 2 * MINUTE, burstAt + 2 * HOUR)).toEqual([]);
  });

  it('names the feature that ran away; the key tracker goes quiet with it', () => {
    const d = detector({ action: 'suspend' });
    const burstAt = T0 + 2 * HOUR;
    spend(d, 'k1', 'chat', STEADY_COST, 10 * SECOND, T0, burstAt);
    const trips = spend(d, 'k1', 'chat', 333_333_334, SECOND, burstAt, burstAt + 5 * MINUTE);
    expect(trips.map((t) => [t.feature, t.detail])).toEqual([
      [
        'chat',
        {
          scope: 'feature',
          currentNanosPerMin: 10_500_000_021,
          baselineNanosPerMin: 1_000_000_002,
          thresholdNanosPerMin: 10_000_000_020,
          factor: 10,
          calls: 33,
          warmingUp: false,
          windowMs: MINUTE,
        },
      ],
    ]);
    expect(trips[0]?.reason).toBe(
      'feature chat of key k1 spent $10.50/min over the last 1m, above 10× its baseline $1.00/min',
    );
    expect(d.suspensions(burstAt + MINUTE).map((s) => [s.keyId, s.feature, s.kind])).toEqual([
      ['k1', 'chat', 'velocity'],
    ]);
  });

  it('a feature can run away while the key as a whole stays within its factor', () => {
    const d = detector();
    const burstAt = T0 + 2 * HOUR;
    // $10/min is above the warmup ceiling: start warm, as from the ledger after a restart.
    d.seedBaseline('k1', null, 10_100_000_000, T0);
    d.seedBaseline('k1', 'bulk', 10_000_000_000, T0);
    d.seedBaseline('k1', 'tiny', 100_000_000, T0);
    for (let t = T0; t < burstAt; t += 10 * SECOND) {
      expect(d.observeSpend('k1', 'bulk', 10 * STEADY_COST, t)).toBeNull(); // $10/min
      expect(d.observeSpend('k1', 'tiny', 16_666_667, t + 5 * SECOND)).toBeNull(); // $0.10/min
    }
    // tiny goes to $1.20/min: 12× its own baseline, yet the key moves from $10.10 to $11.20.
    const trips = spend(d, 'k1', 'tiny', 20_000_000, SECOND, burstAt, burstAt + 2 * MINUTE);
    expect(trips.map((t) => [t.feature, t.kind === 'velocity' && t.detail.scope])).toEqual([
      ['tiny', 'feature'],
    ]);
  });

  it('ignores rates below min_usd_per_min however steep the rise', () => {
    const d = detector({ action: 'suspend' });
    spend(d, 'k1', null, 1_000, 10 * SECOND, T0, T0 + 2 * HOUR); // $0.000006/min
    // 1000× the baseline, still only $0.49/min
    expect(spend(d, 'k1', null, 8_166_667, SECOND, T0 + 2 * HOUR, T0 + 3 * HOUR)).toEqual([]);
  });

  it('one expensive call is not a loop: the window less its largest call must still trip', () => {
    const d = detector();
    spend(d, 'k1', null, 1_666_667, 10 * SECOND, T0, T0 + 2 * HOUR); // $0.01/min
    expect(d.observeSpend('k1', null, 50_000_000_000, T0 + 2 * HOUR + 5 * SECOND)).toBeNull();
    expect(d.observeSpend('k1', null, 1_000_000, T0 + 2 * HOUR + 6 * SECOND)).toBeNull();
    expect(d.observeSpend('k1', null, 40_000_000_000, T0 + 2 * HOUR + 7 * SECOND)?.detail).toMatchObject({
      calls: 8,
      currentNanosPerMin: 90_009_333_335,
    });
  });

  it('during warmup a new key trips only above factor × min_usd_per_min', () => {
    const d = detector();
    // $4.80/min from the first call: no baseline yet, under the $5/min ceiling.
    expect(spend(d, 'new', null, 80_000_000, SECOND, T0, T0 + 9 * MINUTE)).toEqual([]);
    const fresh = detector();
    const trips = spend(fresh, 'new', null, 100_000_000, SECOND, T0, T0 + 5 * MINUTE); // $6/min
    expect(trips.map((t) => [t.at, t.reason, t.kind === 'velocity' && t.detail.warmingUp])).toEqual([
      [
        T0 + 51 * SECOND,
        'key new spent $5.20/min over the last 1m, above $5.00/min, the ceiling while it has no baseline yet',
        true,
      ],
    ]);
  });

  it('a seeded baseline makes a busy key warm at once after a restart', () => {
    const d = detector({ action: 'suspend' });
    d.seedBaseline('busy', null, 30_000_000_000, T0); // $30/min from the ledger
    expect(spend(d, 'busy', null, 5_000_000_000, 10 * SECOND, T0, T0 + 30 * MINUTE)).toEqual([]);
    expect(() => d.seedBaseline('busy', null, Number.NaN, T0)).toThrow(RangeError);
  });

  it('refuses a cost that is not non-negative integer nanos', () => {
    const d = detector();
    expect(() => d.observeSpend('k', null, -1, T0)).toThrow(RangeError);
    expect(() => d.observeSpend('k', null, 0.5, T0)).toThrow(RangeError);
  });
});

describe('repeats', () => {
  const hash = 'a'.repeat(40);

  it('20 identical prompts in 5 minutes pass, the 21st trips', () => {
    const d = detector({ action: 'suspend' });
    for (let i = 0; i < 20; i++)
      expect(d.observePrompt('k1', 'agent', hash, T0 + i * 10 * SECOND)).toBeNull();
    const at = T0 + 200 * SECOND;
    expect(d.observePrompt('k1', 'agent', hash, at)).toEqual({
      kind: 'repeats',
      keyId: 'k1',
      feature: 'agent',
      action: 'suspend',
      untilMs: at + 15 * MINUTE,
      reason: 'key k1 sent the same prompt 21 times within 5m (limit 20)',
      at,
      detail: { promptHash: hash, count: 21, maxIdentical: 20, windowMs: 5 * MINUTE },
    });
    expect(d.check('k1', at + 1)).toMatchObject({
      suspended: true,
      untilMs: at + 15 * MINUTE,
      kind: 'repeats',
    });
  });

  it('the window is (now − 5m, now]: 21 prompts spread over exactly 5 minutes do not trip', () => {
    const d = detector();
    for (let i = 0; i <= 21; i++) expect(d.observePrompt('k1', null, hash, T0 + i * 15 * SECOND)).toBeNull();
    // 1 ms later the prompt sent at T0 + 15 s is still inside: 20 + this one.
    expect(d.observePrompt('k1', null, hash, T0 + 21 * 15 * SECOND + 1)?.detail).toMatchObject({ count: 21 });
  });

  it('trips once per cooldown while the loop goes on, then again', () => {
    const d = detector();
    const trips: number[] = [];
    for (let t = T0; t < T0 + 40 * MINUTE; t += 5 * SECOND) {
      const trip = d.observePrompt('k1', null, hash, t);
      if (trip) trips.push(trip.at - T0);
    }
    expect(trips).toEqual([100 * SECOND, 100 * SECOND + 15 * MINUTE, 100 * SECOND + 30 * MINUTE]);
  });

  it('different prompts never trip, and the same prompt from different keys counts per key', () => {
    const d = detector({ action: 'suspend' });
    for (let i = 0; i < 5_000; i++) expect(d.observePrompt('k1', null, `p${i}`, T0 + i)).toBeNull();
    for (let i = 0; i < 40; i++) expect(d.observePrompt(`key${i}`, null, hash, T0 + i)).toBeNull();
    expect(d.check('k1', T0 + 10_000)).toEqual({ suspended: false });
  });
});

describe('admin and memory', () => {
  it('resume() lifts a suspension early; the tracker stays quiet for the rest of its cooldown', () => {
    const d = detector({ action: 'suspend', repeats: { max_identical: 2 } });
    d.observePrompt('k1', null, 'h', T0);
    d.observePrompt('k1', null, 'h', T0 + 1);
    expect(d.observePrompt('k1', null, 'h', T0 + 2)?.untilMs).toBe(T0 + 2 + 15 * MINUTE);
    expect(d.resume('k1')).toBe(true);
    expect(d.resume('k1')).toBe(false);
    expect(d.check('k1', T0 + 3)).toEqual({ suspended: false });
    expect(d.observePrompt('k1', null, 'h', T0 + 4)).toBeNull();
    expect(d.observePrompt('k1', null, 'h', T0 + 15 * MINUTE)).toBeNull();
    expect(d.observePrompt('k1', null, 'h', T0 + 1 + 15 * MINUTE)).toBeNull();
    expect(d.observePrompt('k1', null, 'h', T0 + 2 + 15 * MINUTE)?.untilMs).toBe(T0 + 2 + 30 * MINUTE);
  });

  it('100k distinct keys stay within the caps and are evicted once idle', () => {
    const d = detector({ memory: { max_trackers: 20_000, max_prompts: 30_000 } });
    for (let i = 0; i < 100_000; i++) {
      const t = T0 + i;
      d.observeSpend(`key${i}`, 'f', 1_000, t);
      d.observePrompt(`key${i}`, 'f', 'h', t);
    }
    expect(d.stats()).toEqual({
      velocityTrackers: 20_000,
      promptCounters: 30_000,
      suspensions: 0,
      repeatsQuiet: 0,
    });
    // Prompt counters go once the repeats window has passed, trackers once idle for 2h.
    d.check('any', T0 + 100_000 + 5 * MINUTE);
    expect(d.stats().promptCounters).toBe(0);
    expect(d.stats().velocityTrackers).toBe(20_000);
    d.observeSpend('late', null, 1_000, T0 + 100_000 + 2 * HOUR);
    expect(d.stats()).toEqual({ velocityTrackers: 1, promptCounters: 0, suspensions: 0, repeatsQuiet: 0 });
  });

  it('disabled: observes nothing and suspends nothing', () => {
    const d = detector({ enabled: false, action: 'suspend', repeats: { max_identical: 1 } });
    for (let i = 0; i < 10; i++) {
      expect(d.observePrompt('k1', null, 'h', T0 + i)).toBeNull();
      expect(d.observeSpend('k1', null, 50_000_000_000, T0 + i)).toBeNull();
    }
    expect(d.check('k1', T0 + 10)).toEqual({ suspended: false });
    expect(d.stats().velocityTrackers).toBe(0);
  });

  it('with action=alert, check() never reports a key suspended (property)', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('spend' as const),
        key: fc.integer({ min: 0, max: 3 }),
        feature: fc.option(fc.constantFrom('a', 'b'), { nil: null }),
        cost: fc.integer({ min: 0, max: 20_000_000_000 }),
      }),
      fc.record({
        kind: fc.constant('prompt' as const),
        key: fc.integer({ min: 0, max: 3 }),
        hash: fc.constantFrom('h1', 'h2'),
      }),
      fc.record({ kind: fc.constant('check' as const), key: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('resume' as const), key: fc.integer({ min: 0, max: 3 }) }),
    );
    const step = fc.record({ op, advanceMs: fc.integer({ min: 0, max: 30_000 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 400 }), (steps) => {
        const d = detector({ repeats: { max_identical: 3 }, velocity: { warmup: '1m', min_usd_per_min: 1 } });
        let now = T0;
        for (const { op, advanceMs } of steps) {
          now += advanceMs;
          const key = `k${op.key}`;
          if (op.kind === 'spend') {
            const trip = d.observeSpend(key, op.feature, op.cost, now);
            if (trip) expect([trip.action, trip.untilMs]).toEqual(['alert', null]);
          } else if (op.kind === 'prompt') {
            const trip = d.observePrompt(key, null, op.hash, now);
            if (trip) expect([trip.action, trip.untilMs]).toEqual(['alert', null]);
          } else if (op.kind === 'resume') {
            expect(d.resume(key)).toBe(false);
          }
          expect(d.check(key, now)).toEqual({ suspended: false });
        }
        expect(d.suspensions(now)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
