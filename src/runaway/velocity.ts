import type { Nanos } from '../money.ts';
import type { RunawaySettings } from './config.ts';

/**
 * Spend rate of one tracker (a key, or a key × feature): a ring of fixed-width buckets holds the
 * current window; each bucket that ages out of the window is folded into an exponentially
 * weighted mean, the baseline. Memory per tracker is one ring, whatever the baseline length, and
 * spend still in the current window never raises its own baseline.
 *
 * A trip freezes the baseline: the buckets from the tripping window to the end of the cooldown
 * are never folded in, so a runaway is not learnt as the new normal. If it is still running when
 * the cooldown ends it trips again; an operator who decides it is normal calls `rebase`.
 *
 * Rates are floats: they feed a threshold heuristic and a report, never a counter or the ledger.
 * The bucket sums themselves are integer nanos.
 */
export interface VelocityState {
  /** Spend per bucket, ring indexed by absolute bucket number mod the ring size. */
  spend: number[];
  /** Calls per bucket, and each bucket's most expensive call, same ring. */
  calls: number[];
  largest: number[];
  /** Sums over the ring, kept in step so reading the window is O(1). */
  windowSpend: Nanos;
  windowCalls: number;
  /** Absolute number (ms / bucket) of the newest bucket in the ring. */
  newestBucket: number;
  /** Buckets before this one predate the tracker: aging them out must not pull the baseline down. */
  firstBucket: number;
  firstMs: number;
  lastMs: number;
  /** Exponentially weighted mean of nanos per bucket, and the total weight folded in so far. */
  mean: number;
  weight: number;
  /** Until when the tracker may not trip again (0: it never tripped). */
  quietUntilMs: number;
  /** Buckets [frozenFrom, frozenUntil) hold a runaway and stay out of the baseline. */
  frozenFrom: number;
  frozenUntil: number;
}

export interface VelocityReading {
  currentNanosPerMin: number;
  /** The same, less the window's most expensive call: what is left must still be a runaway. */
  withoutLargestNanosPerMin: number;
  /** Bias-corrected baseline; 0 before any bucket has aged out of the window. */
  baselineNanosPerMin: number;
  callsInWindow: number;
  /** The baseline has had `warmup` to form and holds at least one aged-out bucket. */
  warm: boolean;
}

const MS_PER_MIN = 60_000;

export class VelocityModel {
  private readonly ringSize: number;
  /** Weight kept by the baseline across one bucket: exp(-bucket / baseline). */
  private readonly decay: number;

  constructor(private readonly v: RunawaySettings['velocity']) {
    this.ringSize = v.windowMs / v.bucketMs;
    this.decay = Math.exp(-v.bucketMs / v.baselineMs);
  }

  create(nowMs: number): VelocityState {
    const bucket = this.bucketOf(nowMs);
    return {
      spend: new Array<number>(this.ringSize).fill(0),
      calls: new Array<number>(this.ringSize).fill(0),
      largest: new Array<number>(this.ringSize).fill(0),
      windowSpend: 0,
      windowCalls: 0,
      newestBucket: bucket,
      firstBucket: bucket,
      firstMs: nowMs,
      lastMs: nowMs,
      mean: 0,
      weight: 0,
      quietUntilMs: 0,
      frozenFrom: 0,
      frozenUntil: 0,
    };
  }

  /**
   * A tracker that starts warm at a known rate, for replaying recent ledger spend at startup so
   * a restart does not put every busy key back in warmup.
   */
  seeded(nowMs: number, baselineNanosPerMin: number): VelocityState {
    const state = this.create(nowMs);
    state.firstMs = nowMs - this.v.warmupMs;
    state.mean = (baselineNanosPerMin * this.v.bucketMs) / MS_PER_MIN;
    state.weight = 1;
    return state;
  }

  /** Books one call's cost at `nowMs`. A clock that steps back books into the newest bucket. */
  add(state: VelocityState, costNanos: Nanos, nowMs: number): void {
    this.advance(state, nowMs);
    const slot = this.slotOf(state.newestBucket);
    state.spend[slot] = (state.spend[slot] ?? 0) + costNanos;
    state.calls[slot] = (state.calls[slot] ?? 0) + 1;
    state.largest[slot] = Math.max(state.largest[slot] ?? 0, costNanos);
    state.windowSpend += costNanos;
    state.windowCalls += 1;
    state.lastMs = Math.max(state.lastMs, nowMs);
  }

  read(state: VelocityState, nowMs: number): VelocityReading {
    this.advance(state, nowMs);
    const baselinePerBucket = state.weight > 0 ? state.mean / state.weight : 0;
    const largest = Math.max(...state.largest);
    return {
      currentNanosPerMin: (state.windowSpend * MS_PER_MIN) / this.v.windowMs,
      withoutLargestNanosPerMin: ((state.windowSpend - largest) * MS_PER_MIN) / this.v.windowMs,
      baselineNanosPerMin: (baselinePerBucket * MS_PER_MIN) / this.v.bucketMs,
      callsInWindow: state.windowCalls,
      warm: state.weight > 0 && nowMs - state.firstMs >= this.v.warmupMs,
    };
  }

  /** One trip per cooldown: false while quiet; otherwise starts the quiet period and freezes the baseline. */
  claimTrip(state: VelocityState, nowMs: number, cooldownMs: number): boolean {
    if (state.quietUntilMs > nowMs) return false;
    state.quietUntilMs = nowMs + cooldownMs;
    state.frozenFrom = state.newestBucket - this.ringSize + 1;
    state.frozenUntil = this.bucketOf(state.quietUntilMs);
    return true;
  }

  /** Operator: the current rate is the new normal. Ends the quiet period and the freeze. */
  rebase(state: VelocityState, nowMs: number): void {
    this.advance(state, nowMs);
    state.mean = state.windowSpend / this.ringSize;
    state.weight = 1;
    state.firstMs = Math.min(state.firstMs, nowMs - this.v.warmupMs);
    state.quietUntilMs = 0;
    state.frozenFrom = 0;
    state.frozenUntil = 0;
  }

  private advance(state: VelocityState, nowMs: number): void {
    const target = this.bucketOf(nowMs);
    const steps = target - state.newestBucket;
    if (steps <= 0) return;
    const leaving = Math.min(steps, this.ringSize);
    for (let i = 0; i < leaving; i++) {
      const bucket = state.newestBucket - this.ringSize + 1 + i;
      const slot = this.slotOf(bucket);
      const spent = state.spend[slot] ?? 0;
      if (bucket >= state.firstBucket && !this.isFrozen(state, bucket)) this.fold(state, spent);
      state.windowSpend -= spent;
      state.windowCalls -= state.calls[slot] ?? 0;
      state.spend[slot] = 0;
      state.calls[slot] = 0;
      state.largest[slot] = 0;
    }
    // A gap longer than the window: the buckets between it and now aged out empty.
    if (steps > this.ringSize) {
      const from = state.newestBucket + 1;
      const until = target - this.ringSize + 1;
      const frozen = Math.max(0, Math.min(until, state.frozenUntil) - Math.max(from, state.frozenFrom));
      this.foldEmpty(state, until - from - frozen);
    }
    state.newestBucket = target;
  }

  private isFrozen(state: VelocityState, bucket: number): boolean {
    return bucket >= state.frozenFrom && bucket < state.frozenUntil;
  }

  private fold(state: VelocityState, bucketSpend: Nanos): void {
    state.mean = state.mean * this.decay + bucketSpend * (1 - this.decay);
    state.weight = state.weight * this.decay + (1 - this.decay);
  }

  private foldEmpty(state: VelocityState, buckets: number): void {
    const kept = this.decay ** buckets;
    state.mean *= kept;
    state.weight = state.weight * kept + (1 - kept);
  }

  private bucketOf(ms: number): number {
    return Math.floor(ms / this.v.bucketMs);
  }

  private slotOf(bucket: number): number {
    return ((bucket % this.ringSize) + this.ringSize) % this.ringSize;
  }
}
