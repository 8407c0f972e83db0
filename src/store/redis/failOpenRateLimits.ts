import { RateLimiter } from '../../ratelimit/limiter.ts';
import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';
import { CountersUnavailableError } from './errors.ts';
import { fromSyncRateLimits } from './fromSync.ts';
import type { AcquireOptions, AsyncRateLimits } from './types.ts';

/**
 * Shared (Redis) rate limits that fail open like the budgets do. While Redis cannot answer, a call
 * whose hard budgets all say `on_store_down: open` (the caller passes `failOpen`) is limited by
 * this replica alone: a local limiter with the same rules, so each replica enforces the full limit
 * and N replicas admit up to N times it during the outage — the budgets' allowance per replica,
 * applied to rates. Any other call still gets the error (503, fail closed). Handles acquired
 * locally are closed locally; they hold nothing in Redis, so there is nothing to replay.
 */
export class FailOpenRateLimits implements AsyncRateLimits {
  private readonly local: AsyncRateLimits;
  private readonly localIds = new Set<string>();
  private readonly onFallback: (err: CountersUnavailableError) => void;

  constructor(
    private readonly shared: AsyncRateLimits,
    options: { leaseMs: number; onFallback?: (err: CountersUnavailableError) => void },
  ) {
    this.local = fromSyncRateLimits(new RateLimiter(), { leaseMs: options.leaseMs });
    this.onFallback = options.onFallback ?? (() => {});
  }

  async acquire(
    id: string,
    rules: RateLimitRule[],
    tokens: number,
    nowMs: number,
    options?: AcquireOptions,
  ): Promise<Acquire> {
    try {
      return await this.shared.acquire(id, rules, tokens, nowMs);
    } catch (err) {
      if (!(err instanceof CountersUnavailableError) || options?.failOpen?.() !== true) throw err;
      this.onFallback(err);
      const outcome = await this.local.acquire(id, rules, tokens, nowMs);
      if (outcome.ok) this.localIds.add(id);
      return outcome;
    }
  }

  settle(id: string, actualTokens: number, nowMs: number): Promise<boolean> {
    return this.storeOf(id).settle(id, actualTokens, nowMs);
  }

  release(id: string): Promise<boolean> {
    return this.storeOf(id).release(id);
  }

  cancel(id: string, nowMs: number): Promise<boolean> {
    return this.storeOf(id).cancel(id, nowMs);
  }

  snapshot(rule: RateLimitRule, nowMs: number): Promise<RuleSnapshot> {
    return this.shared.snapshot(rule, nowMs);
  }

  /** Shared handles plus this replica's local ones. */
  async openCount(): Promise<number> {
    return (await this.shared.openCount()) + (await this.local.openCount());
  }

  reap(nowMs: number, limit?: number): Promise<string[]> {
    return this.shared.reap(nowMs, limit);
  }

  /** Local handles need no renewal (nothing reaps them in Redis): counted as renewed. */
  async renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number> {
    const shared = ids.filter((id) => !this.localIds.has(id));
    const renewed = shared.length > 0 ? await this.shared.renew(shared, leaseExpiresAtMs) : 0;
    return renewed + (ids.length - shared.length);
  }

  /** The store holding a handle; a local handle is forgotten once closed there. */
  private storeOf(id: string): AsyncRateLimits {
    if (!this.localIds.has(id)) return this.shared;
    this.localIds.delete(id);
    return this.local;
  }
}
