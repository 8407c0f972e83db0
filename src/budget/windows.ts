import type { WindowBounds, WindowSpec } from './types.ts';

export type CalendarWindowSpec = Extract<WindowSpec, { kind: 'calendar' }>;
export type RollingWindowSpec = Extract<WindowSpec, { kind: 'rolling' }>;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };

/** Parses a config duration such as '90s', '15m', '1h', '7d', '2w' or '500ms' to milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  const unit = match ? DURATION_UNITS[match[2] ?? ''] : undefined;
  if (!match || unit === undefined) throw new RangeError(`not a duration like 90s, 15m, 1h, 7d: ${text}`);
  const ms = Number(match[1]) * unit;
  if (!Number.isSafeInteger(ms) || ms <= 0)
    throw new RangeError(`duration must be positive and finite: ${text}`);
  return ms;
}

/**
 * A bucket width of about 1/60 of the window, rounded to a whole minute (or second for windows
 * under an hour) and chosen so that it divides the size exactly — the window must be a whole
 * number of buckets or its edge would cut a bucket in half.
 */
export function defaultBucketMs(sizeMs: number): number {
  if (!Number.isSafeInteger(sizeMs) || sizeMs <= 0)
    throw new RangeError(`window size must be positive: ${sizeMs}`);
  const target = sizeMs / 60;
  const unit = [MINUTE, SECOND, 1].find((u) => u <= Math.max(target, 1) && sizeMs % u === 0) ?? 1;
  const units = sizeMs / unit;
  const wanted = Math.max(1, Math.round(target / unit));
  // Nearest divisor of `units` to `wanted`; the search ends at 1 or `units`, both divisors.
  for (let delta = 0; ; delta++) {
    if (wanted - delta >= 1 && units % (wanted - delta) === 0) return (wanted - delta) * unit;
    if (wanted + delta <= units && units % (wanted + delta) === 0) return (wanted + delta) * unit;
  }
}

/** Why a window spec is unusable, or null if it is fine. For config validation at startup. */
export function windowSpecProblem(spec: WindowSpec): string | null {
  if (spec.kind === 'calendar') {
    return isValidTimeZone(spec.tz) ? null : `unknown IANA time zone: ${spec.tz}`;
  }
  if (!Number.isSafeInteger(spec.sizeMs) || spec.sizeMs <= 0) return 'rolling window size must be positive';
  if (!Number.isSafeInteger(spec.bucketMs) || spec.bucketMs <= 0) return 'rolling bucket must be positive';
  if (spec.sizeMs % spec.bucketMs !== 0) return 'rolling window size must be a whole number of buckets';
  return null;
}

/**
 * A stable string for a window spec. Counter state is keyed by policy id + this, so a policy
 * whose window changes starts with fresh windows instead of misreading old buckets.
 */
export function windowFingerprint(spec: WindowSpec): string {
  return spec.kind === 'calendar'
    ? `calendar:${spec.every}:${spec.tz}`
    : `rolling:${spec.sizeMs}:${spec.bucketMs}`;
}

/** The window that contains `nowMs`. */
export function currentWindow(spec: WindowSpec, nowMs: number): WindowBounds {
  return spec.kind === 'calendar' ? calendarWindow(spec, nowMs) : rollingWindow(spec, nowMs);
}

/**
 * The slot that spend at `atMs` is booked into: the calendar window's start, or the rolling
 * bucket's start. Counters key spend by this so replaying the ledger lands in the same slots.
 */
export function bucketStart(spec: WindowSpec, atMs: number): number {
  if (spec.kind === 'calendar') return calendarWindow(spec, atMs).startMs;
  return Math.floor(atMs / spec.bucketMs) * spec.bucketMs;
}

/**
 * When a rolling bucket stops being counted. Spend times are whole ms, so the window
 * (now - size, now] is the ms {now - size + 1 .. now}; bucket [start, start + bucket) leaves it
 * at now = start + bucket + size - 1. Pass the oldest bucket that actually holds spend; null in,
 * null out (nothing to free — only in-flight reservations can be blocking).
 */
export function rollingBucketExpiresAt(spec: RollingWindowSpec, bucketStartMs: number | null): number | null {
  return bucketStartMs === null ? null : bucketStartMs + spec.bucketMs + spec.sizeMs - 1;
}

function rollingWindow(spec: RollingWindowSpec, nowMs: number): WindowBounds {
  // (now - size, now] in integer ms is [now - size + 1, now].
  const startMs = bucketStart(spec, nowMs - spec.sizeMs + 1);
  return { id: 'rolling', startMs, endMs: nowMs, resetsAtMs: rollingBucketExpiresAt(spec, startMs) };
}

function calendarWindow(spec: CalendarWindowSpec, nowMs: number): WindowBounds {
  const local = wallClock(spec.tz, nowMs);
  const [start, end] = calendarDates(spec.every, local.year, local.month, local.day);
  const startMs = localMidnightToUtc(spec.tz, start);
  const endMs = localMidnightToUtc(spec.tz, end);
  return { id: String(startMs), startMs, endMs, resetsAtMs: endMs };
}

/** A local calendar date; `day` and `month` may overflow, Date.UTC normalises them. */
interface LocalDate {
  year: number;
  month: number;
  day: number;
}

function calendarDates(every: CalendarWindowSpec['every'], year: number, month: number, day: number) {
  switch (every) {
    case 'day':
      return [
        { year, month, day },
        { year, month, day: day + 1 },
      ] as const;
    case 'week': {
      // ISO weeks start on Monday: getUTCDay() is 0 for Sunday, so shift it to 6.
      const sinceMonday = (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7;
      return [
        { year, month, day: day - sinceMonday },
        { year, month, day: day - sinceMonday + 7 },
      ] as const;
    }
    case 'month':
      return [
        { year, month, day: 1 },
        { year, month: month + 1, day: 1 },
      ] as const;
    case 'year':
      return [
        { year, month: 1, day: 1 },
        { year: year + 1, month: 1, day: 1 },
      ] as const;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let formatter = formatters.get(tz);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      // h23, not hour12:false: the latter prints midnight as "24" on some ICU versions.
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, formatter);
  }
  return formatter;
}

export function isValidTimeZone(tz: string): boolean {
  if (tz.length === 0) return false;
  try {
    formatterFor(tz);
    return true;
  } catch {
    return false;
  }
}

interface WallClock extends LocalDate {
  /** The wall-clock reading as if it were UTC, to whole seconds. */
  asUtcMs: number;
}

function wallClock(tz: string, atMs: number): WallClock {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(tz).formatToParts(atMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const year = fields['year'] ?? 1970;
  const month = fields['month'] ?? 1;
  const day = fields['day'] ?? 1;
  const asUtcMs = Date.UTC(
    year,
    month - 1,
    day,
    fields['hour'] ?? 0,
    fields['minute'] ?? 0,
    fields['second'] ?? 0,
  );
  return { year, month, day, asUtcMs };
}

/** Offset of `tz` from UTC at instant `atMs` (local = utc + offset). */
function offsetAt(tz: string, atMs: number): number {
  const wholeSecond = atMs - (((atMs % SECOND) + SECOND) % SECOND);
  return wallClock(tz, atMs).asUtcMs - wholeSecond;
}

/**
 * The UTC instant at which `date` begins in `tz`. Offsets are read on both sides of the day
 * (no zone changes offset twice within two days), which covers three cases:
 * - normal: both give the same instant;
 * - midnight happens twice (clocks fall back across it, e.g. America/Havana): the earlier one,
 *   so the previous window's end and this window's start are the same instant;
 * - midnight never happens (clocks spring forward across it, e.g. America/Santiago): the day
 *   begins at the first instant whose wall clock is past midnight, found by bisection.
 */
function localMidnightToUtc(tz: string, date: LocalDate): number {
  const wallMs = Date.UTC(date.year, date.month - 1, date.day);
  const early = wallMs - offsetAt(tz, wallMs - DAY);
  const late = wallMs - offsetAt(tz, wallMs + DAY);
  const readsMidnight = (t: number) => t + offsetAt(tz, t) === wallMs;
  const candidates = [early, late].filter(readsMidnight);
  if (candidates.length > 0) return Math.min(...candidates);
  // Gap: find the first whole second whose wall clock reads at or after midnight.
  let lo = Math.min(early, late);
  let hi = Math.max(early, late);
  while (hi - lo > SECOND) {
    const mid = lo + Math.floor((hi - lo) / 2 / SECOND) * SECOND;
    if (mid + offsetAt(tz, mid) >= wallMs) hi = mid;
    else lo = mid;
  }
  return hi;
}
