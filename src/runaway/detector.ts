import type { Nanos } from '../money.ts';
import type { RunawaySettings } from './config.ts';
import { durationText, usdPerMin } from './describe.ts';
import { LruMap } from './lru.ts';
import type { CheckResult, RepeatsTrip, RunawayStats, Suspension, Trip, VelocityTrip } from './types.ts';
import { VelocityModel, type VelocityReading, type VelocityState } from './velocity.ts';

/** Joins ids into one map key; ids never contain NUL. */
const SEP = '\u0000';

/**
 * Spots runaway agents: a key (or one of its features) whose spend rate jumps far above its own
 * baseline, or a key that sends the same prompt over and over. Synchronous and in memory, with
 * the clock passed in, so it sits on the request path at the cost of a few map lookups.
 *
 * Memory is bounded: velocity trackers and prompt counters are kept in least-recently-used order,
 * dropped once idle and capped in number. Quiet periods and suspensions all last `cooldown`, so
 * the order they were set in is the order they expire in. Each call drops only what has expired
 * from the old end of each table, so upkeep is amortised O(1).
 *
 * State is per process and starts empty: after a restart every tracker is in warmup, and in a
 * cluster each replica sees only its own share of a key's traffic.
 */
export class RunawayDetector {
  private readonly velocity: VelocityModel;
  private readonly trackers = new LruMap<VelocityState>();
  /** (key, prompt hash) -> times it was seen inside the window, oldest first, at most max_identical + 1. */
  private readonly prompts = new LruMap<number[]>();
  /** key -> until when it may not trip for repeats again (velocity trackers keep their own). */
  private readonly quiet = new LruMap<number>();
  private readonly suspended = new LruMap<Suspension>();

  constructor(readonly settings: RunawaySettings) {
    this.velocity = new VelocityModel(settings.velocity);
  }

  /** Before the upstream call: is this key suspended? Lifts a suspension whose cooldown is over. */
  check(keyId: string, nowMs: number): CheckResult {
    if (!this.settings.enabled) return { suspended: false };
    this.sweep(nowMs);
    const s = this.suspended.get(keyId);
    if (!s) return { suspended: false };
    if (s.untilMs <= nowMs) {
      this.suspended.delete(keyId);
      return { suspended: false };
    }
    return { suspended: true, untilMs: s.untilMs, reason: s.reason, kind: s.kind };
  }

  /** Counts one request's prompt; trips when the key sent it more than max_identical times in the window. */
  observePrompt(keyId: string, feature: string | null, promptHash: string, nowMs: number): Trip | null {
    if (!this.settings.enabled) return null;
    this.sweep(nowMs);
    const { windowMs, maxIdentical } = this.settings.repeats;
    const id = keyId + SEP + promptHash;
    const seen = this.prompts.get(id) ?? [];
    seen.push(Math.max(nowMs, seen.at(-1) ?? nowMs));
    // The window is (now - size, now]; counting stops at max_identical + 1, which is all a trip needs.
    while ((seen[0] ?? nowMs) <= nowMs - windowMs || seen.length > maxIdentical + 1) seen.shift();
    this.prompts.set(id, seen);
    this.prompts.evict(this.settings.memory.maxPrompts);
    if (seen.length <= maxIdentical) return null;
    if (!this.claimRepeatsTrip(keyId, nowMs)) return null;
    const trip: RepeatsTrip = {
      kind: 'repeats',
      keyId,
      feature,
      action: this.settings.action,
      untilMs: null,
      reason:
        `key ${keyId} sent the same prompt ${seen.length} times within ${durationText(windowMs)} ` +
        `(limit ${maxIdentical})`,
      at: nowMs,
      detail: { promptHash, count: seen.length, maxIdentical, windowMs },
    };
    return this.act(trip);
  }

  /**
   * Books one settled call's cost against the key's tracker and, when the call has a feature,
   * the key × feature tracker. When both trip at once the feature's trip is returned: it names
   * the culprit. Both go quiet for the cooldown either way.
   */
  observeSpend(keyId: string, feature: string | null, costNanos: Nanos, nowMs: number): Trip | null {
    if (!this.settings.enabled) return null;
    if (!Number.isSafeInteger(costNanos) || costNanos < 0)
      throw new RangeError(`cost must be non-negative integer nanos: ${costNanos}`);
    this.sweep(nowMs);
    const keyTrip = this.observeTracker(keyId, keyId, null, costNanos, nowMs);
    const featureTrip =
      feature === null ? null : this.observeTracker(keyId + SEP + feature, keyId, feature, costNanos, nowMs);
    const trip = featureTrip ?? keyTrip;
    return trip ? this.act(trip) : null;
  }

  /**
   * Startup: gives a tracker the baseline the ledger shows (e.g. spend over the last baseline
   * period ÷ its minutes), so it is warm at once. Call once per key (feature null) and per
   * key × feature; an existing tracker is replaced.
   */
  seedBaseline(keyId: string, feature: string | null, baselineNanosPerMin: number, nowMs: number): void {
    if (!this.settings.enabled) return;
    if (!Number.isFinite(baselineNanosPerMin) || baselineNanosPerMin < 0)
      throw new RangeError(`baseline must be a non-negative rate: ${baselineNanosPerMin}`);
    const trackerId = feature === null ? keyId : keyId + SEP + feature;
    this.trackers.set(trackerId, this.velocity.seeded(nowMs, baselineNanosPerMin));
    this.trackers.evict(this.settings.memory.maxTrackers);
  }

  /**
   * Admin: lift a key's suspension now. Its tripped trackers stay quiet, their baselines frozen,
   * until the cooldown ends; a runaway still going then trips again.
   */
  resume(keyId: string): boolean {
    return this.suspended.delete(keyId);
  }

  /**
   * Admin: the key's current spend rate is its new normal (a launch, not a loop). Every tracker
   * of the key takes its current-window rate as baseline and may trip again at once. Scans all
   * trackers: an admin action, not a request-path one.
   */
  rebaseline(keyId: string, nowMs: number): number {
    if (!this.settings.enabled) return 0;
    const featurePrefix = keyId + SEP;
    let rebased = 0;
    for (const [id, state] of this.trackers.entries()) {
      if (id !== keyId && !id.startsWith(featurePrefix)) continue;
      this.velocity.rebase(state, nowMs);
      rebased++;
    }
    this.quiet.delete(keyId);
    return rebased;
  }

  /** Suspensions in force at `nowMs`, soonest to end first. */
  suspensions(nowMs: number): Suspension[] {
    this.sweep(nowMs);
    return [...this.suspended.entries()]
      .map(([, s]) => s)
      .filter((s) => s.untilMs > nowMs)
      .sort((a, b) => a.untilMs - b.untilMs)
      .map((s) => ({ ...s }));
  }

  /** Sizes of the in-memory tables, for metrics and for tests of the memory bound. */
  stats(): RunawayStats {
    return {
      velocityTrackers: this.trackers.size,
      promptCounters: this.prompts.size,
      suspensions: this.suspended.size,
      repeatsQuiet: this.quiet.size,
    };
  }

  private observeTracker(
    trackerId: string,
    keyId: string,
    feature: string | null,
    costNanos: Nanos,
    nowMs: number,
  ): VelocityTrip | null {
    const state = this.trackers.get(trackerId) ?? this.velocity.create(nowMs);
    this.trackers.set(trackerId, state);
    this.trackers.evict(this.settings.memory.maxTrackers);
    this.velocity.add(state, costNanos, nowMs);
    const reading = this.velocity.read(state, nowMs);
    const verdict = this.judge(reading);
    if (!verdict.trips || !this.velocity.claimTrip(state, nowMs, this.settings.cooldownMs)) return null;
    const { factor, windowMs } = this.settings.velocity;
    const who = feature === null ? `key ${keyId}` : `feature ${feature} of key ${keyId}`;
    const against = reading.warm
      ? `${factor}× its baseline ${usdPerMin(verdict.baseline)}`
      : `${usdPerMin(verdict.threshold)}, the ceiling while it has no baseline yet`;
    return {
      kind: 'velocity',
      keyId,
      feature,
      action: this.settings.action,
      untilMs: null,
      reason: `${who} spent ${usdPerMin(reading.currentNanosPerMin)} over the last ${durationText(windowMs)}, above ${against}`,
      at: nowMs,
      detail: {
        scope: feature === null ? 'key' : 'feature',
        currentNanosPerMin: Math.round(reading.currentNanosPerMin),
        baselineNanosPerMin: Math.round(verdict.baseline),
        thresholdNanosPerMin: Math.round(verdict.threshold),
        factor,
        calls: reading.callsInWindow,
        warmingUp: !reading.warm,
        windowMs,
      },
    };
  }

  /**
   * Trips when the current rate is above factor × baseline and at least min_usd_per_min, and
   * would still be without the window's most expensive call: one big call is not a loop (budgets
   * and output ceilings bound it), and a key that makes one big call an hour must not trip hourly.
   * Without a trustworthy baseline (warmup) the baseline is taken as at least min_usd_per_min,
   * so a new key trips only above factor × min_usd_per_min.
   */
  private judge(r: VelocityReading): { trips: boolean; baseline: number; threshold: number } {
    const { factor, minNanosPerMin } = this.settings.velocity;
    const baseline = r.warm ? r.baselineNanosPerMin : Math.max(r.baselineNanosPerMin, minNanosPerMin);
    const threshold = Math.max(factor * baseline, minNanosPerMin);
    const trips =
      r.withoutLargestNanosPerMin > factor * baseline && r.withoutLargestNanosPerMin >= minNanosPerMin;
    return { trips, baseline, threshold };
  }

  /** One repeats trip per key per cooldown, whichever prompts it loops on: one alert, not one per prompt. */
  private claimRepeatsTrip(keyId: string, nowMs: number): boolean {
    const until = this.quiet.get(keyId);
    if (until !== undefined && until > nowMs) return false;
    this.quiet.set(keyId, nowMs + this.settings.cooldownMs);
    // A lost quiet period costs at most a repeated alert, never a refused call.
    this.quiet.evict(this.settings.memory.maxTrackers);
    return true;
  }

  private act<T extends Trip>(trip: T): T {
    if (this.settings.action !== 'suspend') return trip;
    const untilMs = trip.at + this.settings.cooldownMs;
    const previous = this.suspended.get(trip.keyId);
    const suspension: Suspension = {
      keyId: trip.keyId,
      kind: trip.kind,
      feature: trip.feature,
      reason: trip.reason,
      sinceMs: previous && previous.untilMs > trip.at ? previous.sinceMs : trip.at,
      untilMs: Math.max(untilMs, previous?.untilMs ?? 0),
    };
    this.suspended.set(trip.keyId, suspension);
    return { ...trip, untilMs: suspension.untilMs };
  }

  private sweep(nowMs: number): void {
    const { memory, repeats } = this.settings;
    this.trackers.evict(memory.maxTrackers, (state) => state.lastMs <= nowMs - memory.idleMs);
    this.prompts.evict(memory.maxPrompts, (seen) => (seen.at(-1) ?? nowMs) <= nowMs - repeats.windowMs);
    this.quiet.evict(memory.maxTrackers, (until) => until <= nowMs);
    // Never capped: a suspension refuses calls and must not vanish because others were added.
    this.suspended.evict(Number.POSITIVE_INFINITY, (s) => s.untilMs <= nowMs);
  }
}
