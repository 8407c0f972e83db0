import type { Redis } from 'ioredis';
import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';
import { guarded, integer, integers, strings } from './luaScript.ts';
import {
  assertUnits,
  assertValidRule,
  denialFor,
  type RuleLevels,
  ruleStateKey,
  view,
  views,
} from './rateDecision.ts';
import { ACQUIRE, CANCEL, REAP, RELEASE, RENEW, SETTLE, SNAPSHOT } from './rateScripts.ts';
import type { AsyncRateLimits } from './types.ts';

export interface RedisRateLimiterOptions {
  /** Key prefix; keep a hash tag in it (default `tollgate:{ratelimits}`), see RateKeys. */
  prefix?: string;
  /** How long a concurrency slot is held at most: a dead replica's slots free after this. */
  leaseMs: number;
}

/**
 * Key layout of the rate limits under one prefix (one hash tag, one Redis Cluster slot):
 *
 *   <p>:handles            zset    handle id -> lease expiry (ms)
 *   <p>:h:<id>             string  handle record (JSON: per rule, its limits and charge ends)
 *   <p>:level:<rule>       hash    rq / tk / at: GCRA levels and the time they were drained to
 *   <p>:slots:<rule>       zset    handle id -> lease expiry: the open calls of a concurrency limit
 *
 * `<rule>` is the rule id plus its scope, as in memory.
 */
class RateKeys {
  readonly handles: string;
  readonly handlePrefix: string;

  constructor(readonly prefix: string) {
    this.handles = `${prefix}:handles`;
    this.handlePrefix = `${prefix}:h:`;
  }

  handle(id: string): string {
    return this.handlePrefix + id;
  }

  levels(rule: RateLimitRule): string {
    return `${this.prefix}:level:${ruleStateKey(rule)}`;
  }

  slots(rule: RateLimitRule): string {
    return `${this.prefix}:slots:${ruleStateKey(rule)}`;
  }
}

/**
 * Garbage collection of handle records and slot sets nobody closed nor reaped. Real time, not
 * the injected clock, so it is far beyond any lease: the lease itself is enforced by scores.
 */
const FORGET_AFTER_MS = 24 * 60 * 60_000;

/**
 * Cluster-mode rate limits in Redis: one bucket per rule and scope shared by every replica, so
 * rpm 10 admits 10 across the cluster, not 10 per replica. Same GCRA and the same answers
 * (binding rule, retry-after, header views) as the in-memory `RateLimiter`.
 */
export class RedisRateLimiter implements AsyncRateLimits {
  private readonly keys: RateKeys;
  private readonly leaseMs: number;
  /** Acquisitions under no rule: nothing shared to count, so they never wait on Redis. */
  private readonly unlimited = new Set<string>();

  constructor(
    private readonly client: Redis,
    options: RedisRateLimiterOptions,
  ) {
    if (!Number.isSafeInteger(options.leaseMs) || options.leaseMs <= 0) {
      throw new RangeError(`lease must be a positive number of ms, got ${options.leaseMs}`);
    }
    this.keys = new RateKeys(options.prefix ?? 'tollgate:{ratelimits}');
    this.leaseMs = options.leaseMs;
  }

  async acquire(id: string, rules: RateLimitRule[], tokens: number, nowMs: number): Promise<Acquire> {
    assertUnits(tokens, 'tokens');
    if (this.unlimited.has(id)) throw new Error(`rate limit handle already open: ${id}`);
    const now = Math.floor(nowMs);
    const unique: RateLimitRule[] = [];
    const seen = new Set<string>();
    for (const rule of rules) {
      assertValidRule(rule);
      const key = ruleStateKey(rule);
      if (seen.has(key)) continue;
      seen.add(key);
      unique.push(rule);
    }
    if (unique.length === 0) {
      this.unlimited.add(id);
      return { ok: true, handleId: id, rules: [] };
    }
    const keys = [this.keys.handle(id), this.keys.handles];
    const args: Array<string | number> = [
      id,
      now,
      tokens,
      now + this.leaseMs,
      FORGET_AFTER_MS,
      unique.length,
    ];
    for (const rule of unique) {
      keys.push(this.keys.levels(rule), this.keys.slots(rule));
      args.push(limitArg(rule.rpm), limitArg(rule.tpm), limitArg(rule.concurrency));
    }
    const reply = integers(await ACQUIRE.run(this.client, keys, args), 'rate limit acquire');
    const levels = levelsOf(reply.slice(1));
    if (reply[0] === 1) return { ok: true, handleId: id, rules: views(unique, levels) };
    const denial = denialFor(unique, levels, tokens);
    if (!denial) throw new Error('rate limit acquire: refused, yet every rule fits the levels it read');
    return denial;
  }

  async settle(id: string, actualTokens: number, nowMs: number): Promise<boolean> {
    assertUnits(actualTokens, 'actual tokens');
    if (this.unlimited.delete(id)) return true;
    const reply = await SETTLE.run(this.client, this.closeKeys(id), [id, actualTokens, Math.floor(nowMs)]);
    return integer(reply, 'rate limit settle') === 1;
  }

  async release(id: string): Promise<boolean> {
    if (this.unlimited.delete(id)) return true;
    return integer(await RELEASE.run(this.client, this.closeKeys(id), [id]), 'rate limit release') === 1;
  }

  async cancel(id: string, nowMs: number): Promise<boolean> {
    if (this.unlimited.delete(id)) return true;
    const reply = await CANCEL.run(this.client, this.closeKeys(id), [id, Math.floor(nowMs)]);
    return integer(reply, 'rate limit cancel') === 1;
  }

  async snapshot(rule: RateLimitRule, nowMs: number): Promise<RuleSnapshot> {
    assertValidRule(rule);
    const reply = integers(
      await SNAPSHOT.run(
        this.client,
        [this.keys.levels(rule), this.keys.slots(rule)],
        [Math.floor(nowMs), limitArg(rule.rpm), limitArg(rule.tpm), limitArg(rule.concurrency)],
      ),
      'rate limit snapshot',
    );
    const [level] = levelsOf(reply);
    return view(rule, level ?? { requestLevel: 0, tokenLevel: 0, open: 0 });
  }

  async openCount(): Promise<number> {
    const shared = await guarded('rate limit open count', () => this.client.zcard(this.keys.handles));
    return shared + this.unlimited.size;
  }

  async reap(nowMs: number, limit = 100): Promise<string[]> {
    const reply = await REAP.run(
      this.client,
      [this.keys.handles],
      [Math.floor(nowMs), limit, this.keys.handlePrefix],
    );
    return strings(reply, 'rate limit reap');
  }

  async renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number> {
    // Handles under no rule live only here and hold no slot to extend.
    const shared = ids.filter((id) => !this.unlimited.has(id));
    const local = ids.length - shared.length;
    if (shared.length === 0) return local;
    const reply = await RENEW.run(
      this.client,
      [this.keys.handles],
      [Math.floor(leaseExpiresAtMs), FORGET_AFTER_MS, this.keys.handlePrefix, ...shared],
    );
    return local + integer(reply, 'rate limit renew');
  }

  private closeKeys(id: string): string[] {
    return [this.keys.handle(id), this.keys.handles];
  }
}

function limitArg(value: number | null): string {
  return value === null ? '' : String(value);
}

function levelsOf(flat: number[]): RuleLevels[] {
  const levels: RuleLevels[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    levels.push({ requestLevel: flat[i] ?? 0, tokenLevel: flat[i + 1] ?? 0, open: flat[i + 2] ?? 0 });
  }
  return levels;
}
