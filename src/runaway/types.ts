import type { RunawayAction } from './config.ts';

export type TripKind = 'velocity' | 'repeats';

interface TripBase {
  keyId: string;
  /** velocity: the feature whose tracker tripped (null = the key as a whole); repeats: the tipping call's feature. */
  feature: string | null;
  action: RunawayAction;
  /** When the suspension ends, for action=suspend; null for alert. */
  untilMs: number | null;
  /** One human sentence for logs, alerts and the suspension's `reason`. */
  reason: string;
  at: number;
}

export interface VelocityTrip extends TripBase {
  kind: 'velocity';
  detail: {
    /** Which tracker tripped: the key's total spend, or one feature of the key. */
    scope: 'key' | 'feature';
    /** Spend in the current window, as nanos per minute (rounded; rates are a heuristic, not money). */
    currentNanosPerMin: number;
    /** The baseline the current rate was compared to; during warmup at least min_usd_per_min. */
    baselineNanosPerMin: number;
    /**
     * The rate the current one, less its most expensive call, had to exceed:
     * max(factor × baseline, min_usd_per_min).
     */
    thresholdNanosPerMin: number;
    factor: number;
    /** Calls booked in the current window. */
    calls: number;
    /** True when the tracker had no trustworthy baseline yet (new key or recent restart). */
    warmingUp: boolean;
    windowMs: number;
  };
}

export interface RepeatsTrip extends TripBase {
  kind: 'repeats';
  detail: {
    promptHash: string;
    /** Identical prompts in the window when it tripped (max_identical + 1: counting stops there). */
    count: number;
    maxIdentical: number;
    windowMs: number;
  };
}

export type Trip = VelocityTrip | RepeatsTrip;

export interface Suspension {
  keyId: string;
  kind: TripKind;
  feature: string | null;
  reason: string;
  sinceMs: number;
  untilMs: number;
}

export type CheckResult =
  | { suspended: false }
  | { suspended: true; untilMs: number; reason: string; kind: TripKind };

export interface RunawayStats {
  velocityTrackers: number;
  promptCounters: number;
  suspensions: number;
  /** Keys in their repeats cooldown. */
  repeatsQuiet: number;
}
