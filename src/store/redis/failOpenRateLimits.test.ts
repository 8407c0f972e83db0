import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../ratelimit/limiter.ts';
import type { RateLimitRule } from '../../ratelimit/types.ts';
import { CountersUnavailableError } from './errors.ts';
import { FailOpenRateLimits } from './failOpenRateLimits.ts';
import { fromSyncRateLimits } from './fromSync.ts';
import type { AsyncRateLimits } from './types.ts';

const T0 = 1_750_000_000_000;
const rule: RateLimitRule = {
  id: 'k',
  scope: { kind: 'key', value: 'k' },
  rpm: 2,
  tpm: null,
  concurrency: 1,
};

/** A shared store that answers until `down` is set, then throws like Redis unreachable. */
function flakyShared(): { store: AsyncRateLimits; setDown(v: boolean): void } {
  const inner = fromSyncRateLimits(new RateLimiter(), { leaseMs: 60_000 });
  let down = false;
  const guard = <T>(f: () => Promise<T>) =>
    down ? Promise.reject(new CountersUnavailableError('unreachable', 'rate limit acquire')) : f();
  return {
    setDown: (v) => {
      down = v;
    },
    store: {
      acquire: (id, rules, tokens, now) => guard(() => inner.acquire(id, rules, tokens, now)),
      settle: (id, t, now) => guard(() => inner.settle(id, t, now)),
      release: (id) => guard(() => inner.release(id)),
      cancel: (id, now) => guard(() => inner.cancel(id, now)),
      snapshot: (r, now) => guard(() => inner.snapshot(r, now)),
      openCount: () => guard(() => inner.openCount()),
      reap: (now, limit) => guard(() => inner.reap(now, limit)),
      renew: (ids, at) => guard(() => inner.renew(ids, at)),
    },
  };
}

describe('FailOpenRateLimits', () => {
  it('while the shared store is down, limits fail-open calls locally and refuses the others', async () => {
    const shared = flakyShared();
    const limits = new FailOpenRateLimits(shared.store, { leaseMs: 60_000 });
    const open = { failOpen: () => true };
    expect((await limits.acquire('up', [rule], 0, T0, open)).ok).toBe(true);
    expect(await limits.settle('up', 0, T0)).toBe(true);

    shared.setDown(true);
    await expect(limits.acquire('closed', [rule], 0, T0)).rejects.toBeInstanceOf(CountersUnavailableError);
    await expect(limits.acquire('closed2', [rule], 0, T0, { failOpen: () => false })).rejects.toBeInstanceOf(
      CountersUnavailableError,
    );

    // The local limiter enforces the same rule: concurrency 1, then rpm 2.
    expect((await limits.acquire('a', [rule], 0, T0, open)).ok).toBe(true);
    const busy = await limits.acquire('b', [rule], 0, T0, open);
    expect(busy.ok ? null : busy.unit).toBe('concurrency');
    expect(await limits.renew(['a'], T0 + 120_000)).toBe(1);
    expect(await limits.settle('a', 0, T0)).toBe(true);
    expect((await limits.acquire('c', [rule], 0, T0, open)).ok).toBe(true);
    await limits.release('c');
    const third = await limits.acquire('d', [rule], 0, T0, open);
    expect(third.ok ? null : third.unit).toBe('requests');

    // Back up: the shared store decides again; local handles are gone.
    shared.setDown(false);
    expect((await limits.acquire('e', [rule], 0, T0 + 60_000, open)).ok).toBe(true);
    expect(await limits.openCount()).toBe(1);
    expect(await limits.release('e')).toBe(true);
  });
});
