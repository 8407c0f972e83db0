import { describe, expect, it } from 'vitest';
import { dayLabel, dayRange, isoSeconds, isoWeekLabel, monthOf, parseDay, startOfIsoWeek } from './range.ts';

describe('export ranges', () => {
  it('parses real calendar dates only', () => {
    expect(parseDay('2026-11-22')).toBe(Date.UTC(2026, 10, 22));
    expect(parseDay('2026-02-30')).toBeNull();
    expect(parseDay('2026-13-01')).toBeNull();
    expect(parseDay('22/11/2026')).toBeNull();
    expect(parseDay('2026-11-22T00:00:00Z')).toBeNull();
  });

  it('covers whole UTC days with `to` included', () => {
    expect(dayRange('2026-11-01', '2026-11-30')).toEqual({
      ok: true,
      range: { fromMs: Date.UTC(2026, 10, 1), toMs: Date.UTC(2026, 11, 1) },
    });
  });

  it('names the bad argument', () => {
    expect(dayRange('2026-11-31', '2026-12-01', { from: '--from', to: '--to' })).toEqual({
      ok: false,
      field: 'from',
      message: "--from must be a calendar date YYYY-MM-DD (UTC), got '2026-11-31'",
    });
    expect(dayRange('2026-11-02', '2026-11-01')).toEqual({
      ok: false,
      field: 'to',
      message: 'to (2026-11-01) is before from (2026-11-02)',
    });
    expect(dayRange('2025-01-01', '2026-01-02')).toMatchObject({ ok: false, field: 'to' });
  });

  it('labels days, months and ISO weeks in UTC', () => {
    expect(dayLabel(Date.UTC(2026, 10, 22, 23, 59))).toBe('2026-11-22');
    expect(monthOf(Date.UTC(2026, 11, 31, 5))).toEqual({
      fromMs: Date.UTC(2026, 11, 1),
      toMs: Date.UTC(2027, 0, 1),
    });
    // Sunday 2026-11-22 belongs to the week that started Monday 2026-11-16: ISO week 47.
    expect(startOfIsoWeek(Date.UTC(2026, 10, 22, 12))).toBe(Date.UTC(2026, 10, 16));
    expect(isoWeekLabel(Date.UTC(2026, 10, 22))).toBe('2026-W47');
    // 2027-01-01 is a Friday: it belongs to 2026-W53.
    expect(isoWeekLabel(Date.UTC(2027, 0, 1))).toBe('2026-W53');
    expect(isoWeekLabel(Date.UTC(2024, 11, 30))).toBe('2025-W01');
    expect(isoSeconds(Date.UTC(2026, 10, 22, 1, 2, 3, 456))).toBe('2026-11-22T01:02:03Z');
  });
});
