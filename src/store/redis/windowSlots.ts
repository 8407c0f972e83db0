import type { WindowBounds, WindowSpec } from '../../budget/types.ts';
import {
  bucketStart,
  type CalendarWindowSpec,
  currentWindow,
  rollingBucketExpiresAt,
} from '../../budget/windows.ts';

/**
 * Window math for the Redis counters, done in TypeScript so the scripts only add up hash
 * fields: which slots (calendar window starts or rolling bucket starts) make up the window at
 * `now`, which slot new spend lands in, and how long a slot must be kept.
 */

/**
 * Most buckets in a rolling window. A script keeps a running sum of the window, so a call
 * usually reads one or two slots; it re-reads every bucket (plus the partly covered oldest),
 * inside Redis's single thread, when that sum is missing or far behind (a long idle policy).
 * 1,440 allows a day of minutes.
 */
export const MAX_ROLLING_BUCKETS = 1_440;

/** Old calendar windows kept besides the current one, as the in-memory counters do, for late settles. */
const CALENDAR_WINDOWS_KEPT_BACK = 3;

/** The slots whose spend counts at `now`: firstSlot, firstSlot + bucket, ..., lastSlot. */
export interface WindowPlan {
  bounds: WindowBounds;
  /** The calendar window's start, or the oldest (maybe partly covered) rolling bucket's. */
  firstSlot: number;
  /** The calendar window's start, or the start of the rolling bucket holding `now`. */
  lastSlot: number;
}

/** Why a window cannot be counted in Redis, or null. For config validation in cluster mode. */
export function redisWindowProblem(spec: WindowSpec): string | null {
  if (spec.kind === 'calendar') return null;
  const buckets = spec.sizeMs / spec.bucketMs;
  return buckets > MAX_ROLLING_BUCKETS
    ? `a rolling window of ${buckets} buckets is too fine for the Redis counters ` +
        `(at most ${MAX_ROLLING_BUCKETS}); use a wider bucket`
    : null;
}

/** Plans windows, caching calendar bounds (a few Intl calls each) per policy key. */
export class WindowPlanner {
  private readonly calendar = new Map<string, WindowBounds>();

  plan(key: string, spec: WindowSpec, nowMs: number): WindowPlan {
    if (spec.kind === 'calendar') {
      const bounds = this.calendarBounds(key, spec, nowMs);
      return { bounds, firstSlot: bounds.startMs, lastSlot: bounds.startMs };
    }
    const problem = redisWindowProblem(spec);
    if (problem) throw new RangeError(problem);
    const bounds = currentWindow(spec, nowMs);
    return { bounds, firstSlot: bounds.startMs, lastSlot: bucketStart(spec, nowMs) };
  }

  /** The slot spend at `atMs` lands in, and for how many ms after `atMs` that slot must be kept. */
  booking(key: string, spec: WindowSpec, atMs: number): { slot: number; keepMs: number } {
    if (spec.kind === 'calendar') {
      const { startMs, endMs } = this.calendarBounds(key, spec, atMs);
      const keepUntil = endMs + CALENDAR_WINDOWS_KEPT_BACK * (endMs - startMs);
      return { slot: startMs, keepMs: Math.max(1, keepUntil - atMs) };
    }
    const slot = bucketStart(spec, atMs);
    // One extra window of slack, as in memory: a clock stepping back a little still sees the spend.
    const keepUntil = slot + spec.bucketMs + 2 * spec.sizeMs;
    return { slot, keepMs: Math.max(1, keepUntil - atMs) };
  }

  /** When the window frees budget: the calendar end, or when the oldest bucket with spend leaves. */
  resetsAt(spec: WindowSpec, plan: WindowPlan, oldestSpendSlot: number | null): number | null {
    if (spec.kind === 'calendar') return plan.bounds.resetsAtMs;
    return rollingBucketExpiresAt(spec, oldestSpendSlot);
  }

  private calendarBounds(key: string, spec: CalendarWindowSpec, nowMs: number): WindowBounds {
    const cached = this.calendar.get(key);
    if (cached && nowMs >= cached.startMs && nowMs < cached.endMs) return cached;
    const fresh = currentWindow(spec, nowMs);
    this.calendar.set(key, fresh);
    return fresh;
  }
}

/**
 * A window as the budget scripts read it (windowSpend in budgetScripts.ts): policy key, kind
 * ('c': one calendar slot, 'r': rolling), first slot, last slot, bucket ms, size ms. Numbers,
 * not key names: the script names the slots itself.
 */
export function windowArgs(key: string, spec: WindowSpec, plan: WindowPlan): Array<string | number> {
  return spec.kind === 'calendar'
    ? [key, 'c', plan.firstSlot, plan.lastSlot, 0, 0]
    : [key, 'r', plan.firstSlot, plan.lastSlot, spec.bucketMs, spec.sizeMs];
}
