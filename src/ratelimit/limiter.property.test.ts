import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PERIOD_MS } from './gcra.ts';
import { RateLimiter } from './limiter.ts';
import type { RateLimitRule } from './types.ts';

/**
 * Burst allowance: GCRA with burst = rpm lets a full bucket go at once and then refills at
 * rpm per minute, so the calls admitted between any two admissions t_i ≤ t_j number at most
 * rpm + rpm × (t_j − t_i) / 60 s. In any 60 s window that is at most 2 × rpm − 1 (a full
 * burst at the window's start, then one every 60/rpm s before its end). Tokens obey the same
 * bound with tpm, counting each call at what it finally cost: the actual tokens once settled
 * at or below the estimate, the estimate while open or released, nothing once cancelled.
 * (Usage above the estimate is charged when it becomes known, so it is not generated here.)
 */

type Op =
  | { kind: 'acquire'; tokensPermille: number; onModel: boolean }
  /** Asks for exactly the tokens the key's bucket reports free: probes the boundary. */
  | { kind: 'fill'; onModel: boolean }
  | { kind: 'settle'; pick: number; actualPct: number }
  | { kind: 'release'; pick: number }
  | { kind: 'cancel'; pick: number }
  | { kind: 'tick'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      /** Per mille of the tpm (1000 = one over it), so estimates scale with any tpm. */
      tokensPermille: fc.integer({ min: 0, max: 1000 }),
      onModel: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fill' as const), onModel: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      actualPct: fc.integer({ min: 0, max: 100 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      ms: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 2000, max: 15_000 })),
    }),
  },
);

interface Limits {
  keyRpm: number;
  teamRpm: number;
  tpm: number;
  keyConcurrency: number;
  modelConcurrency: number;
}

interface Admitted {
  id: string;
  atMs: number;
  onModel: boolean;
  /** What the call finally cost in tokens. */
  tokens: number;
  cancelled: boolean;
}

/** Every pair of admissions (sorted by time) obeys units ≤ limit + limit × Δt / period. */
function assertGcraBound(calls: { atMs: number; units: number }[], limit: number): void {
  const sorted = [...calls].sort((a, b) => a.atMs - b.atMs);
  for (let i = 0; i < sorted.length; i++) {
    let units = 0;
    for (let j = i; j < sorted.length; j++) {
      units += sorted[j]?.units ?? 0;
      const dt = (sorted[j]?.atMs ?? 0) - (sorted[i]?.atMs ?? 0);
      // In level units (× PERIOD_MS) everything is an exact integer.
      expect(units * PERIOD_MS).toBeLessThanOrEqual(limit * PERIOD_MS + limit * dt);
    }
  }
}

function maxInAnyWindow(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= PERIOD_MS) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/**
 * The level a GCRA bucket would have at `nowMs` had every call charged its final cost at
 * admission. The limiter charges estimates and corrects later, so its own level must never
 * be below this one: if it were, it would admit more than the rate allows.
 */
function referenceLevel(calls: { atMs: number; units: number }[], limit: number, nowMs: number): number {
  let level = 0;
  let atMs = calls[0]?.atMs ?? nowMs;
  for (const c of calls) {
    level = Math.max(0, level - limit * (c.atMs - atMs)) + c.units * PERIOD_MS;
    atMs = c.atMs;
  }
  return Math.max(0, level - limit * (nowMs - atMs));
}

function freeUnits(level: number, limit: number): number {
  return Math.max(0, Math.floor((limit * PERIOD_MS - level) / PERIOD_MS));
}

/** Runs one interleaving against a key rule, a team rule and (for some calls) a model rule. */
function runInterleaving(limits: Limits, ops: Op[]): void {
  const key: RateLimitRule = {
    id: 'key',
    scope: { kind: 'key', value: 'k1' },
    rpm: limits.keyRpm,
    tpm: limits.tpm,
    concurrency: limits.keyConcurrency,
  };
  const team: RateLimitRule = {
    id: 'team',
    scope: { kind: 'team', value: 'search' },
    rpm: limits.teamRpm,
    tpm: null,
    concurrency: null,
  };
  const model: RateLimitRule = {
    id: 'model',
    scope: { kind: 'model', value: 'gpt' },
    rpm: null,
    tpm: null,
    concurrency: limits.modelConcurrency,
  };
  const rl = new RateLimiter();
  let now = 1_750_000_000_000;
  let seq = 0;
  const admitted: Admitted[] = [];
  const open: Admitted[] = [];
  const close = (pick: number): Admitted | undefined =>
    open.length === 0 ? undefined : open.splice(pick % open.length, 1)[0];

  for (const op of ops) {
    switch (op.kind) {
      case 'acquire':
      case 'fill': {
        const id = `c${seq++}`;
        const rules = op.onModel ? [key, team, model] : [key, team];
        const tokens =
          op.kind === 'fill'
            ? (rl.snapshot(key, now).tokens?.remaining ?? 0)
            : Math.floor((limits.tpm * op.tokensPermille) / 1000) + (op.tokensPermille === 1000 ? 1 : 0);
        const r = rl.acquire(id, rules, tokens, now);
        if (r.ok) {
          const call = { id, atMs: now, onModel: op.onModel, tokens, cancelled: false };
          admitted.push(call);
          open.push(call);
        } else if (r.reason === 'exceeds_limit') {
          expect(tokens).toBeGreaterThan(limits.tpm);
        } else {
          expect(r.retryAfterMs).toBeGreaterThan(0);
        }
        break;
      }
      case 'settle': {
        const call = close(op.pick);
        if (!call) break;
        const actual = Math.floor((call.tokens * op.actualPct) / 100);
        expect(rl.settle(call.id, actual, now)).toBe(true);
        expect(rl.settle(call.id, actual, now)).toBe(false);
        call.tokens = actual;
        break;
      }
      case 'release': {
        const call = close(op.pick);
        if (!call) break;
        expect(rl.release(call.id)).toBe(true);
        expect(rl.release(call.id)).toBe(false);
        break;
      }
      case 'cancel': {
        const call = close(op.pick);
        if (!call) break;
        expect(rl.cancel(call.id, now)).toBe(true);
        call.cancelled = true;
        break;
      }
      case 'tick':
        now += op.ms;
        break;
    }
    const openOnModel = open.filter((c) => c.onModel).length;
    expect(open.length).toBeLessThanOrEqual(limits.keyConcurrency);
    expect(openOnModel).toBeLessThanOrEqual(limits.modelConcurrency);
    expect(rl.openCount()).toBe(open.length);
    expect(rl.snapshot(key, now).concurrency?.open).toBe(open.length);
    expect(rl.snapshot(model, now).concurrency?.open).toBe(openOnModel);

    const kept = admitted.filter((c) => !c.cancelled);
    const snap = rl.snapshot(key, now);
    expect(snap.tokens?.remaining).toBeLessThanOrEqual(
      freeUnits(
        referenceLevel(
          kept.map((c) => ({ atMs: c.atMs, units: c.tokens })),
          limits.tpm,
          now,
        ),
        limits.tpm,
      ),
    );
    expect(snap.requests?.remaining).toBeLessThanOrEqual(
      freeUnits(
        referenceLevel(
          kept.map((c) => ({ atMs: c.atMs, units: 1 })),
          limits.keyRpm,
          now,
        ),
        limits.keyRpm,
      ),
    );
  }

  const kept = admitted.filter((c) => !c.cancelled);
  const requests = kept.map((c) => ({ atMs: c.atMs, units: 1 }));
  assertGcraBound(requests, limits.keyRpm);
  assertGcraBound(requests, limits.teamRpm);
  expect(maxInAnyWindow(kept.map((c) => c.atMs))).toBeLessThanOrEqual(
    2 * Math.min(limits.keyRpm, limits.teamRpm) - 1,
  );
  assertGcraBound(
    kept.map((c) => ({ atMs: c.atMs, units: c.tokens })),
    limits.tpm,
  );

  for (const call of open) rl.release(call.id);
  expect(rl.openCount()).toBe(0);
  expect(rl.snapshot(key, now).concurrency?.open).toBe(0);
  expect(rl.snapshot(model, now).concurrency?.open).toBe(0);
  rl.sweep(now + 10 * PERIOD_MS);
  expect(rl.stateCount()).toBe(0);
}

const opsArb = fc.array(opArb, { minLength: 1, maxLength: 200 });

describe('RateLimiter under random interleavings', () => {
  it('admits no more than rpm + burst per rule and never exceeds concurrency', () => {
    const limits = fc.record({
      keyRpm: fc.integer({ min: 1, max: 12 }),
      teamRpm: fc.integer({ min: 1, max: 30 }),
      tpm: fc.integer({ min: 1000, max: 100_000 }),
      keyConcurrency: fc.integer({ min: 1, max: 4 }),
      modelConcurrency: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(fc.property(limits, opsArb, runInterleaving), { numRuns: Number(process.env.FC_RUNS ?? 300) });
  });

  it('admits no more than tpm + burst in actual tokens, whatever settle gives back', () => {
    // Loose request limits so the token bucket is what binds.
    const limits = fc.record({
      keyRpm: fc.constant(6000),
      teamRpm: fc.constant(6000),
      tpm: fc.integer({ min: 60, max: 3000 }),
      keyConcurrency: fc.integer({ min: 2, max: 8 }),
      modelConcurrency: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(fc.property(limits, opsArb, runInterleaving), { numRuns: Number(process.env.FC_RUNS ?? 300) });
  });
});
