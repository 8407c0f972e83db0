import type { Amount, BudgetMode, BudgetPolicy, WindowBounds, WindowSpec } from '../budget/types.ts';
import { formatUsd } from '../money.ts';
import type { RunawayAction } from '../runaway/config.ts';
import type { Trip } from '../runaway/types.ts';
import { type AlertReason, spentFraction } from './thresholds.ts';

/**
 * The event a receiver gets (webhook JSON body, stored payload). Money travels as decimal USD
 * strings so no receiver ever parses a float for an amount.
 */
export interface AlertEvent {
  id: string;
  type: 'budget.threshold';
  policyId: string;
  mode: BudgetMode;
  /** The fraction of the limit that was crossed, e.g. 0.8. */
  threshold: number;
  /** Alert window id: calendar window start ms, or `rolling:<block start ms>`. */
  windowId: string;
  windowStart: string;
  windowEnd: string;
  /** Human label of the window, e.g. "2026-11 (Europe/Berlin)" or "rolling 30d". */
  windowLabel: string;
  spentUsd: string;
  /** null when the policy has no USD limit (likewise limitTokens / limitRequests). */
  limitUsd: string | null;
  spentTokens: number;
  limitTokens: number | null;
  spentRequests: number;
  limitRequests: number | null;
  /** Settled spend over the limit, most-used unit; null when a zero limit makes it infinite. */
  usedFraction: number | null;
  at: string;
  /** `denied`: a hard budget refused a call because it is exhausted (counts as 100%). */
  reason: AlertReason;
}

export interface AlertEventInput {
  id: string;
  policy: BudgetPolicy;
  threshold: number;
  windowId: string;
  window: WindowBounds;
  spent: Amount;
  atMs: number;
  reason: AlertReason;
}

export function buildAlertEvent(input: AlertEventInput): AlertEvent {
  const { policy, spent, window } = input;
  const fraction = spentFraction(policy, spent);
  return {
    id: input.id,
    type: 'budget.threshold',
    policyId: policy.id,
    mode: policy.mode,
    threshold: input.threshold,
    windowId: input.windowId,
    windowStart: new Date(window.startMs).toISOString(),
    windowEnd: new Date(window.endMs).toISOString(),
    windowLabel: windowLabel(policy.window, window.startMs),
    spentUsd: formatUsd(spent.nanos),
    limitUsd: policy.limit.usdNanos === null ? null : formatUsd(policy.limit.usdNanos),
    spentTokens: spent.tokens,
    limitTokens: policy.limit.tokens,
    spentRequests: spent.requests,
    limitRequests: policy.limit.requests,
    usedFraction: Number.isFinite(fraction) ? fraction : null,
    at: new Date(input.atMs).toISOString(),
    reason: input.reason,
  };
}

/** Who a tripped key belongs to, as the request's identity resolved it. */
export interface RunawayOwner {
  org: string;
  team: string;
  project: string;
  env: string;
}

interface RunawayEventBase {
  id: string;
  type: 'runaway.tripped';
  /** When the detector tripped. */
  at: string;
  action: RunawayAction;
  keyId: string;
  /** velocity: the feature whose tracker tripped (null = the key as a whole); repeats: the tipping call's. */
  feature: string | null;
  org: string;
  team: string;
  project: string;
  env: string;
  /** When the key's suspension ends, for action suspend; null when it only alerts. */
  suspendedUntil: string | null;
  /** The detector's one-sentence explanation. */
  reason: string;
}

export interface VelocityRunawayEvent extends RunawayEventBase {
  kind: 'velocity';
  detail: {
    scope: 'key' | 'feature';
    /** Rates as decimal USD per minute, like every amount in an event. */
    currentUsdPerMin: string;
    baselineUsdPerMin: string;
    /** The rate the current one had to exceed: max(factor × baseline, min_usd_per_min). */
    thresholdUsdPerMin: string;
    factor: number;
    calls: number;
    /** True when the key had no trustworthy baseline yet (new key or recent restart). */
    warmingUp: boolean;
    windowMs: number;
  };
}

export interface RepeatsRunawayEvent extends RunawayEventBase {
  kind: 'repeats';
  detail: {
    promptHash: string;
    count: number;
    maxIdentical: number;
    windowMs: number;
  };
}

/**
 * A runaway-detection trip as receivers get it. Field names are camelCase like AlertEvent's, so
 * one receiver parses both event types the same way; `type` tells them apart.
 */
export type RunawayEvent = VelocityRunawayEvent | RepeatsRunawayEvent;

export function buildRunawayEvent(id: string, trip: Trip, who: RunawayOwner): RunawayEvent {
  const base: RunawayEventBase = {
    id,
    type: 'runaway.tripped',
    at: isoTime(trip.at),
    action: trip.action,
    keyId: trip.keyId,
    feature: trip.feature,
    org: who.org,
    team: who.team,
    project: who.project,
    env: who.env,
    suspendedUntil: trip.untilMs === null ? null : isoTime(trip.untilMs),
    reason: trip.reason,
  };
  if (trip.kind === 'repeats') {
    const d = trip.detail;
    return {
      ...base,
      kind: 'repeats',
      detail: {
        promptHash: d.promptHash,
        count: d.count,
        maxIdentical: d.maxIdentical,
        windowMs: d.windowMs,
      },
    };
  }
  const d = trip.detail;
  return {
    ...base,
    kind: 'velocity',
    detail: {
      scope: d.scope,
      currentUsdPerMin: rateUsd(d.currentNanosPerMin),
      baselineUsdPerMin: rateUsd(d.baselineNanosPerMin),
      thresholdUsdPerMin: rateUsd(d.thresholdNanosPerMin),
      factor: d.factor,
      calls: d.calls,
      warmingUp: d.warmingUp,
      windowMs: d.windowMs,
    },
  };
}

/** ISO time; an out-of-range instant (never from a real clock) as its number instead of a throw. */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/**
 * Rates are heuristics the detector may hand over unrounded; formatUsd needs whole nanos. A
 * non-finite rate cannot come from the detector and is passed on as such rather than thrown:
 * the event is built on the request path.
 */
function rateUsd(nanosPerMin: number): string {
  return Number.isFinite(nanosPerMin) ? formatUsd(Math.round(nanosPerMin)) : String(nanosPerMin);
}

/** "2026-11 (Europe/Berlin)", "2026-11-03 (UTC)", "week of 2026-11-02 (UTC)", "2026 (UTC)", "rolling 30d". */
export function windowLabel(spec: WindowSpec, startMs: number): string {
  if (spec.kind === 'rolling') return `rolling ${formatDuration(spec.sizeMs)}`;
  const { year, month, day } = localDate(spec.tz, startMs);
  switch (spec.every) {
    case 'day':
      return `${year}-${month}-${day} (${spec.tz})`;
    case 'week':
      return `week of ${year}-${month}-${day} (${spec.tz})`;
    case 'month':
      return `${year}-${month} (${spec.tz})`;
    case 'year':
      return `${year} (${spec.tz})`;
  }
}

function localDate(tz: string, atMs: number): { year: string; month: string; day: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(atMs);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return { year: part('year'), month: part('month'), day: part('day') };
}

const DURATION_UNITS: ReadonlyArray<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

function formatDuration(ms: number): string {
  for (const [unit, size] of DURATION_UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
