import { describe, expect, it } from 'vitest';
import { CONCURRENCY_RETRY_MS } from '../../ratelimit/limiter.ts';
import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';
import type { AsyncRateLimits } from '../redis/types.ts';

/**
 * The contract every rate limit store keeps: the in-memory limiter through `fromSyncRateLimits`,
 * and Redis with two clients — where the limits must hold for the cluster, not per replica.
 */

export interface LimitsPair {
  a: AsyncRateLimits;
  b: AsyncRateLimits;
}

export interface RateLimitsFactory {
  /** A fresh, empty store whose acquisitions have this lease. Called once per test. */
  create(leaseMs: number): Promise<LimitsPair>;
}

const T0 = 1_750_000_000_000;
const LEASE_MS = 15 * 60_000;

function rule(
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

function okRules(a: Acquire): RuleSnapshot[] {
  if (!a.ok) throw new Error(`expected admission, got ${a.unit} denial by ${a.ruleId}`);
  return a.rules;
}

function denied(a: Acquire) {
  if (a.ok) throw new Error('expected a denial');
  return a;
}

export function describeRateLimitsContract(name: string, factory: RateLimitsFactory): void {
  const fresh = async (leaseMs = LEASE_MS) => factory.create(leaseMs);

  describe(`${name}: rate limits contract`, () => {
    it('rpm 10 across two replicas admits 10 in total, not 20', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { rpm: 10 });
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).acquire(`c${i}`, [r], 0, T0)),
      );
      expect(outcomes.filter((o) => o.ok).length).toBe(10);
      const refusal = denied(await b.acquire('late', [r], 0, T0));
      expect(refusal).toEqual({
        ok: false,
        ruleId: 'k',
        scope: { kind: 'key', value: 'k' },
        unit: 'requests',
        reason: 'exhausted',
        retryAfterMs: 6000,
        limit: 10,
        requested: 1,
        rules: [
          {
            ruleId: 'k',
            scope: { kind: 'key', value: 'k' },
            requests: { limit: 10, remaining: 0, resetMs: 60_000 },
            tokens: null,
            concurrency: null,
          },
        ],
      });
      expect(denied(await a.acquire('early', [r], 0, T0 + 5999)).retryAfterMs).toBe(1);
      expect((await a.acquire('one', [r], 0, T0 + 6000)).ok).toBe(true);
      expect(denied(await b.acquire('two', [r], 0, T0 + 6000)).retryAfterMs).toBe(6000);
    });

    it('reports remaining and time to full; snapshots do not move the state', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { rpm: 10 });
      expect(okRules(await a.acquire('x', [r], 0, T0))[0]?.requests).toEqual({
        limit: 10,
        remaining: 9,
        resetMs: 6000,
      });
      expect((await b.snapshot(r, T0 + 3000)).requests).toEqual({ limit: 10, remaining: 9, resetMs: 3000 });
      expect((await b.snapshot(r, T0 + 6000)).requests).toEqual({ limit: 10, remaining: 10, resetMs: 0 });
      expect((await a.snapshot(r, T0 + 3000)).requests).toEqual({ limit: 10, remaining: 9, resetMs: 3000 });
    });

    it('tpm reserves the estimate, denies what does not fit with the exact wait, refunds on settle', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { tpm: 1000 });
      expect(okRules(await a.acquire('x', [r], 600, T0))[0]?.tokens).toEqual({
        limit: 1000,
        remaining: 400,
        resetMs: 36_000,
      });
      const refusal = denied(await b.acquire('y', [r], 500, T0));
      expect([refusal.unit, refusal.reason, refusal.retryAfterMs, refusal.requested]).toEqual([
        'tokens',
        'exhausted',
        6000,
        500,
      ]);
      expect(await b.settle('x', 100, T0 + 10)).toBe(true);
      // 100 actual tokens, less 10 ms of refill at 1000/min: 900 whole tokens free.
      expect((await a.snapshot(r, T0 + 10)).tokens).toEqual({ limit: 1000, remaining: 900, resetMs: 5990 });
      expect((await b.acquire('y', [r], 900, T0 + 10)).ok).toBe(true);
      expect((await a.acquire('z', [r], 1, T0 + 10)).ok).toBe(false);
    });

    it('refunds only what time has not already given back (first in, first out)', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { tpm: 1000 });
      await a.acquire('x', [r], 600, T0);
      await b.acquire('y', [r], 400, T0);
      await b.settle('x', 0, T0 + 30_000);
      expect((await a.snapshot(r, T0 + 30_000)).tokens).toEqual({
        limit: 1000,
        remaining: 600,
        resetMs: 24_000,
      });
    });

    it('an earlier refund moves later charges down the queue: a drained charge is not given back twice', async () => {
      // Found by the property test: x and y take 1 token each; x is cancelled, so y now sits
      // at the bottom and drains within the next second. Cancelling y after that gives nothing.
      const { a, b } = await fresh();
      const r = rule('k', { tpm: 60 });
      await a.acquire('x', [r], 1, T0);
      await b.acquire('y', [r], 1, T0);
      await a.cancel('x', T0);
      await b.acquire('z', [r], 60, T0 + 1_000);
      await a.cancel('y', T0 + 1_000);
      expect((await b.snapshot(r, T0 + 1_000)).tokens?.remaining).toBe(0);
      expect((await a.acquire('w', [r], 1, T0 + 1_000)).ok).toBe(false);
      // Settling below the estimate obeys the same queue.
      const { a: c } = await fresh();
      await c.acquire('p', [r], 1, T0);
      await c.acquire('q', [r], 1, T0);
      await c.settle('p', 0, T0);
      await c.acquire('s', [r], 60, T0 + 1_000);
      await c.settle('q', 0, T0 + 1_000);
      expect((await c.snapshot(r, T0 + 1_000)).tokens?.remaining).toBe(0);
    });

    it('charges usage beyond the estimate past full; the debt drains', async () => {
      const { a } = await fresh();
      const r = rule('k', { tpm: 1000 });
      await a.acquire('x', [r], 100, T0);
      await a.settle('x', 1500, T0);
      expect((await a.snapshot(r, T0)).tokens).toEqual({ limit: 1000, remaining: 0, resetMs: 90_000 });
      expect(denied(await a.acquire('y', [r], 0, T0)).retryAfterMs).toBe(30_000);
      expect((await a.acquire('z', [r], 1, T0 + 30_060)).ok).toBe(true);
    });

    it('an estimate above the whole tpm can never fit: no retry time', async () => {
      const { a } = await fresh();
      const r = rule('k', { tpm: 1000 });
      const refusal = denied(await a.acquire('x', [r], 1001, T0));
      expect([refusal.unit, refusal.reason, refusal.retryAfterMs, refusal.limit, refusal.requested]).toEqual([
        'tokens',
        'exceeds_limit',
        null,
        1000,
        1001,
      ]);
      expect((await a.acquire('y', [r], 1000, T0)).ok).toBe(true);
    });

    it('concurrency counts open calls of every replica; settle and release free the slot once', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { concurrency: 2 });
      expect((await a.acquire('x', [r], 0, T0)).ok).toBe(true);
      expect((await b.acquire('y', [r], 0, T0)).ok).toBe(true);
      const refusal = denied(await a.acquire('z', [r], 0, T0));
      expect([refusal.unit, refusal.retryAfterMs]).toEqual(['concurrency', CONCURRENCY_RETRY_MS]);
      expect(await a.openCount()).toBe(2);

      expect(await b.settle('x', 10, T0)).toBe(true);
      expect(await a.settle('x', 10, T0)).toBe(false);
      expect(await a.release('x')).toBe(false);
      expect((await a.snapshot(r, T0)).concurrency).toEqual({ limit: 2, open: 1 });

      expect(await a.release('y')).toBe(true);
      expect(await b.release('y')).toBe(false);
      expect(await a.cancel('y', T0)).toBe(false);
      expect((await b.snapshot(r, T0)).concurrency).toEqual({ limit: 2, open: 0 });
      expect(await b.openCount()).toBe(0);
      expect(await a.release('never-opened')).toBe(false);
      expect((await a.acquire('w', [r], 0, T0)).ok).toBe(true);
    });

    it('cancel gives back the request, the tokens and the slot of a call that never left', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { rpm: 1, tpm: 100, concurrency: 1 });
      await a.acquire('x', [r], 80, T0);
      expect(await b.cancel('x', T0)).toBe(true);
      expect(await a.cancel('x', T0)).toBe(false);
      expect(await a.snapshot(r, T0)).toEqual({
        ruleId: 'k',
        scope: { kind: 'key', value: 'k' },
        requests: { limit: 1, remaining: 1, resetMs: 0 },
        tokens: { limit: 100, remaining: 100, resetMs: 0 },
        concurrency: { limit: 1, open: 0 },
      });
      expect((await b.acquire('y', [r], 100, T0)).ok).toBe(true);
    });

    it('release keeps the request and token charges', async () => {
      const { a } = await fresh();
      const r = rule('k', { rpm: 2, tpm: 100 });
      await a.acquire('x', [r], 30, T0);
      await a.acquire('y', [r], 30, T0);
      await a.settle('x', 30, T0);
      await a.release('y');
      const snap = await a.snapshot(r, T0);
      expect([snap.requests?.remaining, snap.tokens?.remaining]).toEqual([0, 40]);
    });

    it('all or none: a denial by one rule charges none of the others', async () => {
      const { a, b } = await fresh();
      const teamRule: RateLimitRule = {
        ...rule('team', { rpm: 1 }),
        scope: { kind: 'team', value: 'search' },
      };
      const key = rule('key', { rpm: 10, tpm: 1000, concurrency: 5 });
      await a.acquire('first', [teamRule], 0, T0);
      expect(denied(await b.acquire('second', [key, teamRule], 700, T0)).ruleId).toBe('team');
      expect(await a.snapshot(key, T0)).toEqual({
        ruleId: 'key',
        scope: { kind: 'key', value: 'key' },
        requests: { limit: 10, remaining: 10, resetMs: 0 },
        tokens: { limit: 1000, remaining: 1000, resetMs: 0 },
        concurrency: { limit: 5, open: 0 },
      });
      expect(await a.openCount()).toBe(1);
    });

    it('names the rule that binds longest; a call that can never fit binds first', async () => {
      const { a } = await fresh();
      const slow = rule('slow', { rpm: 1 });
      const fast = rule('fast', { rpm: 60 });
      await Promise.all(Array.from({ length: 60 }, (_, i) => a.acquire(`f${i}`, [fast], 0, T0)));
      await a.acquire('s', [slow], 0, T0);
      const both = denied(await a.acquire('x', [fast, slow], 0, T0));
      expect([both.ruleId, both.retryAfterMs]).toEqual(['slow', 60_000]);
      const never = denied(await a.acquire('y', [fast, slow, rule('tiny', { tpm: 10 })], 11, T0));
      expect([never.ruleId, never.reason, never.retryAfterMs]).toEqual(['tiny', 'exceeds_limit', null]);
    });

    it('charges a rule listed twice once; one id with two scopes stays apart', async () => {
      const { a } = await fresh();
      const r = rule('k', { rpm: 2 });
      expect(okRules(await a.acquire('x', [r, r], 0, T0)).length).toBe(1);
      expect((await a.snapshot(r, T0)).requests?.remaining).toBe(1);
      const one: RateLimitRule = { ...rule('same', { rpm: 1 }), scope: { kind: 'team', value: 'a' } };
      const other: RateLimitRule = { ...one, scope: { kind: 'team', value: 'b' } };
      expect((await a.acquire('1', [one], 0, T0)).ok).toBe(true);
      expect((await a.acquire('2', [other], 0, T0)).ok).toBe(true);
    });

    it('a call under no rule is admitted and closes once', async () => {
      const { a } = await fresh();
      expect(await a.acquire('x', [], 50, T0)).toEqual({ ok: true, handleId: 'x', rules: [] });
      expect(await a.openCount()).toBe(1);
      expect(await a.settle('x', 50, T0)).toBe(true);
      expect(await a.settle('x', 50, T0)).toBe(false);
      expect(await a.openCount()).toBe(0);
    });

    it('refuses a reused open id, bad token counts and bad rules', async () => {
      const { a } = await fresh();
      const r = rule('k', { rpm: 5 });
      await a.acquire('x', [r], 0, T0);
      await expect(a.acquire('x', [r], 0, T0)).rejects.toThrow('rate limit handle already open: x');
      await expect(a.acquire('y', [r], -1, T0)).rejects.toThrow(RangeError);
      await expect(a.acquire('y', [r], 1.5, T0)).rejects.toThrow(RangeError);
      await expect(a.settle('x', Number.NaN, T0)).rejects.toThrow(RangeError);
      await expect(a.acquire('y', [rule('z', { rpm: 0 })], 0, T0)).rejects.toThrow(
        'rate limit z: rpm must be an integer from 1 to 1000000000',
      );
      expect(await a.openCount()).toBe(1);
    });

    it('does not refill twice when a clock steps back', async () => {
      const { a, b } = await fresh();
      const r = rule('k', { rpm: 1 });
      await a.acquire('x', [r], 0, T0 + 10_000);
      expect((await b.acquire('y', [r], 0, T0)).ok).toBe(false);
      expect(denied(await b.acquire('z', [r], 0, T0 + 69_999)).retryAfterMs).toBe(1);
    });

    it('the reaper frees the slots of calls whose lease ran out (a replica died holding them)', async () => {
      const { a, b } = await fresh(60_000);
      const r = rule('k', { concurrency: 1, rpm: 100 });
      expect((await a.acquire('dead', [r], 0, T0)).ok).toBe(true);
      expect(await b.reap(T0 + 59_999)).toEqual([]);
      expect(await b.reap(T0 + 60_000)).toEqual(['dead']);
      expect(await b.reap(T0 + 60_000)).toEqual([]);
      expect(await a.settle('dead', 0, T0 + 60_000)).toBe(false);
      expect(await b.openCount()).toBe(0);
      expect((await b.snapshot(r, T0 + 60_000)).concurrency).toEqual({ limit: 1, open: 0 });
      expect((await b.acquire('alive', [r], 0, T0 + 60_000)).ok).toBe(true);
    });
  });
}
