/**
 * UTC calendar arithmetic for exports. Every boundary is UTC: a finance day, week and month
 * mean the same instants on every replica, whatever the host's time zone.
 */

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** Half-open [fromMs, toMs). */
export interface TimeRange {
  fromMs: number;
  toMs: number;
}

/** The longest range one export covers, so an admin request cannot ask for a decade of rows. */
export const MAX_EXPORT_DAYS = 366;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Midnight UTC of a `YYYY-MM-DD` calendar date, or null when it is not one (2026-02-30 is not). */
export function parseDay(text: string): number | null {
  const m = DATE.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return ms;
}

export type DayRangeResult =
  | { ok: true; range: TimeRange }
  | { ok: false; message: string; field: 'from' | 'to' };

/** `from` and `to` are whole UTC days, both included: --from 2026-11-01 --to 2026-11-30 is November. */
export function dayRange(from: string, to: string, names = { from: 'from', to: 'to' }): DayRangeResult {
  const fromMs = parseDay(from);
  if (fromMs === null)
    return {
      ok: false,
      field: 'from',
      message: `${names.from} must be a calendar date YYYY-MM-DD (UTC), got '${from}'`,
    };
  const toMs = parseDay(to);
  if (toMs === null)
    return {
      ok: false,
      field: 'to',
      message: `${names.to} must be a calendar date YYYY-MM-DD (UTC), got '${to}'`,
    };
  if (toMs < fromMs)
    return { ok: false, field: 'to', message: `${names.to} (${to}) is before ${names.from} (${from})` };
  const days = (toMs - fromMs) / DAY_MS + 1;
  if (days > MAX_EXPORT_DAYS)
    return {
      ok: false,
      field: 'to',
      message: `an export covers at most ${MAX_EXPORT_DAYS} days, this one ${days}`,
    };
  return { ok: true, range: { fromMs, toMs: toMs + DAY_MS } };
}

export function startOfDay(ms: number): number {
  return ms - mod(ms, DAY_MS);
}

export function startOfHour(ms: number): number {
  return ms - mod(ms, HOUR_MS);
}

/** `YYYY-MM-DD` of the UTC day holding `ms`. */
export function dayLabel(ms: number): string {
  return new Date(startOfDay(ms)).toISOString().slice(0, 10);
}

/** The UTC calendar month holding `ms`: the billing period of a charge. */
export function monthOf(ms: number): TimeRange {
  const d = new Date(ms);
  return {
    fromMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    toMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

/** Monday 00:00 UTC of the ISO week holding `ms`. */
export function startOfIsoWeek(ms: number): number {
  const day = startOfDay(ms);
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday = 0
  return day - weekday * DAY_MS;
}

/** ISO 8601 week label, e.g. `2026-W47`: the week belongs to the year of its Thursday. */
export function isoWeekLabel(ms: number): string {
  const thursday = startOfIsoWeek(ms) + 3 * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** ISO 8601 without milliseconds, as FOCUS asks: 2026-11-22T00:00:00Z. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
