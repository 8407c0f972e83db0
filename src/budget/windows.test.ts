import { describe, expect, it } from 'vitest';
import type { WindowSpec } from './types.ts';
import {
  bucketStart,
  currentWindow,
  defaultBucketMs,
  isValidTimeZone,
  parseDuration,
  rollingBucketExpiresAt,
  windowFingerprint,
  windowSpecProblem,
} from './windows.ts';

const iso = (text: string) => Date.parse(text);
const HOUR = 3_600_000;
const MINUTE = 60_000;

function calendar(every: 'day' | 'week' | 'month' | 'year', tz: string): WindowSpec {
  return { kind: 'calendar', every, tz };
}

function bounds(spec: WindowSpec, at: string) {
  const w = currentWindow(spec, iso(at));
  return { start: new Date(w.startMs).toISOString(), end: new Date(w.endMs).toISOString(), w };
}

describe('calendar windows', () => {
  it('uses the start instant as id and resets at the exclusive end', () => {
    const w = currentWindow(calendar('day', 'UTC'), iso('2025-06-10T12:00:00Z'));
    expect(w).toEqual({
      id: String(iso('2025-06-10T00:00:00Z')),
      startMs: iso('2025-06-10T00:00:00Z'),
      endMs: iso('2025-06-11T00:00:00Z'),
      resetsAtMs: iso('2025-06-11T00:00:00Z'),
    });
  });

  it('is a partition: the end instant belongs to the next window, the one before to this', () => {
    const spec = calendar('day', 'Europe/Berlin');
    const w = currentWindow(spec, iso('2025-03-30T12:00:00Z'));
    expect(currentWindow(spec, w.endMs).startMs).toBe(w.endMs);
    expect(currentWindow(spec, w.endMs - 1).startMs).toBe(w.startMs);
    expect(currentWindow(spec, w.startMs).startMs).toBe(w.startMs);
  });

  it('Europe/Berlin: the March DST day is 23 hours, the October one 25', () => {
    const march = bounds(calendar('day', 'Europe/Berlin'), '2025-03-30T12:00:00Z');
    expect(march.start).toBe('2025-03-29T23:00:00.000Z'); // 00:00 CET (+1)
    expect(march.end).toBe('2025-03-30T22:00:00.000Z'); // 00:00 CEST (+2)
    expect(march.w.endMs - march.w.startMs).toBe(23 * HOUR);

    const october = bounds(calendar('day', 'Europe/Berlin'), '2025-10-26T12:00:00Z');
    expect(october.start).toBe('2025-10-25T22:00:00.000Z');
    expect(october.end).toBe('2025-10-26T23:00:00.000Z');
    expect(october.w.endMs - october.w.startMs).toBe(25 * HOUR);
  });

  it('Europe/Berlin: a month spanning the DST switch starts and ends at local midnight', () => {
    const march = bounds(calendar('month', 'Europe/Berlin'), '2025-03-15T00:00:00Z');
    expect(march.start).toBe('2025-02-28T23:00:00.000Z');
    expect(march.end).toBe('2025-03-31T22:00:00.000Z');
    // Just before local midnight on Mar 31 (+2) is still March; just after is April.
    expect(bounds(calendar('month', 'Europe/Berlin'), '2025-03-31T21:59:59.999Z').start).toBe(march.start);
    expect(bounds(calendar('month', 'Europe/Berlin'), '2025-03-31T22:00:00.000Z').start).toBe(march.end);
  });

  it('months end correctly, including Feb 29 in a leap year', () => {
    const feb = bounds(calendar('month', 'UTC'), '2028-02-29T23:59:59.999Z');
    expect(feb.start).toBe('2028-02-01T00:00:00.000Z');
    expect(feb.end).toBe('2028-03-01T00:00:00.000Z');
    expect(bounds(calendar('day', 'UTC'), '2028-02-29T10:00:00Z').end).toBe('2028-03-01T00:00:00.000Z');
    expect(bounds(calendar('month', 'UTC'), '2027-02-15T00:00:00Z').end).toBe('2027-03-01T00:00:00.000Z');
    const december = bounds(calendar('month', 'Europe/Berlin'), '2025-12-31T22:59:59Z');
    expect(december.start).toBe('2025-11-30T23:00:00.000Z');
    expect(december.end).toBe('2025-12-31T23:00:00.000Z');
  });

  it('weeks start on Monday 00:00 local (ISO)', () => {
    // 2025-06-15 is a Sunday; its week began Monday 2025-06-09.
    const sunday = bounds(calendar('week', 'UTC'), '2025-06-15T23:00:00Z');
    expect(sunday.start).toBe('2025-06-09T00:00:00.000Z');
    expect(sunday.end).toBe('2025-06-16T00:00:00.000Z');
    const monday = bounds(calendar('week', 'UTC'), '2025-06-16T00:00:00Z');
    expect(monday.start).toBe('2025-06-16T00:00:00.000Z');
    // Across a month and a DST change in Berlin: Mon 2025-03-24 00:00 +1 to Mon 2025-03-31 00:00 +2.
    const berlin = bounds(calendar('week', 'Europe/Berlin'), '2025-03-30T12:00:00Z');
    expect(berlin.start).toBe('2025-03-23T23:00:00.000Z');
    expect(berlin.end).toBe('2025-03-30T22:00:00.000Z');
    expect(new Date(iso('2025-03-24T00:00:00Z')).getUTCDay()).toBe(1);
  });

  it('America/New_York: local midnight, across both DST switches', () => {
    const day = bounds(calendar('day', 'America/New_York'), '2025-03-09T12:00:00Z');
    expect(day.start).toBe('2025-03-09T05:00:00.000Z'); // EST -5
    expect(day.end).toBe('2025-03-10T04:00:00.000Z'); // EDT -4
    const nov = bounds(calendar('day', 'America/New_York'), '2025-11-02T12:00:00Z');
    expect(nov.w.endMs - nov.w.startMs).toBe(25 * HOUR);
    // 03:00 UTC on Jan 1 is still Dec 31 in New York.
    const year = bounds(calendar('year', 'America/New_York'), '2026-01-01T03:00:00Z');
    expect(year.start).toBe('2025-01-01T05:00:00.000Z');
    expect(year.end).toBe('2026-01-01T05:00:00.000Z');
  });

  it('Asia/Kolkata: +05:30 midnight', () => {
    const day = bounds(calendar('day', 'Asia/Kolkata'), '2025-06-10T18:29:59Z');
    expect(day.start).toBe('2025-06-09T18:30:00.000Z');
    expect(day.end).toBe('2025-06-10T18:30:00.000Z');
    expect(bounds(calendar('day', 'Asia/Kolkata'), '2025-06-10T18:30:00Z').start).toBe(
      '2025-06-10T18:30:00.000Z',
    );
    const month = bounds(calendar('month', 'Asia/Kolkata'), '2025-06-30T20:00:00Z');
    expect(month.start).toBe('2025-06-30T18:30:00.000Z');
  });

  it('Pacific/Chatham: +12:45 / +13:45 across its April DST end', () => {
    // DST ends Sun 2025-04-06 at 03:45 local (+13:45 -> +12:45).
    const day = bounds(calendar('day', 'Pacific/Chatham'), '2025-04-06T00:00:00Z');
    expect(day.start).toBe('2025-04-05T10:15:00.000Z'); // 00:00 +13:45
    expect(day.end).toBe('2025-04-06T11:15:00.000Z'); // 00:00 +12:45
    expect(day.w.endMs - day.w.startMs).toBe(25 * HOUR);
  });

  it('America/Santiago: the day whose midnight is skipped starts at 01:00', () => {
    // 2024-09-07 24:00 (-04) jumps to 2024-09-08 01:00 (-03).
    const sunday = bounds(calendar('day', 'America/Santiago'), '2024-09-08T12:00:00Z');
    expect(sunday.start).toBe('2024-09-08T04:00:00.000Z');
    const saturday = bounds(calendar('day', 'America/Santiago'), '2024-09-08T03:59:59Z');
    expect(saturday.start).toBe('2024-09-07T04:00:00.000Z');
    expect(saturday.end).toBe(sunday.start);
  });

  it('America/Havana: a midnight that happens twice starts the day at the first one', () => {
    // 2024-11-03 01:00 (-04) falls back to 00:00 (-05).
    const day = bounds(calendar('day', 'America/Havana'), '2024-11-03T12:00:00Z');
    expect(day.start).toBe('2024-11-03T04:00:00.000Z');
    expect(bounds(calendar('day', 'America/Havana'), '2024-11-03T04:30:00Z').end).toBe(
      '2024-11-04T05:00:00.000Z',
    );
  });

  it('validates time zones', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
    expect(windowSpecProblem(calendar('day', 'Nope/Nowhere'))).toMatch(/time zone/);
  });
});

describe('rolling windows', () => {
  const spec: WindowSpec = { kind: 'rolling', sizeMs: 60 * MINUTE, bucketMs: MINUTE };

  it('covers the buckets overlapping (now - size, now]', () => {
    const now = iso('2025-06-10T12:30:20Z');
    const w = currentWindow(spec, now);
    expect(w.id).toBe('rolling');
    expect(w.endMs).toBe(now);
    // now - size = 11:30:20, exclusive: the 11:30 bucket still overlaps.
    expect(w.startMs).toBe(iso('2025-06-10T11:30:00Z'));
    // Its last ms, 11:30:59.999, leaves (now - size, now] when now reaches 12:30:59.999.
    expect(w.resetsAtMs).toBe(iso('2025-06-10T12:30:59.999Z'));
    expect(currentWindow(spec, iso('2025-06-10T12:30:59.998Z')).startMs).toBe(iso('2025-06-10T11:30:00Z'));
    expect(currentWindow(spec, iso('2025-06-10T12:30:59.999Z')).startMs).toBe(iso('2025-06-10T11:31:00Z'));
  });

  it('on a bucket boundary the bucket starting at now - size still counts its later ms', () => {
    const now = iso('2025-06-10T12:00:00Z');
    // (11:00:00.000, 12:00:00.000] holds 11:00:00.001, which is in the 11:00 bucket.
    expect(currentWindow(spec, now).startMs).toBe(iso('2025-06-10T11:00:00Z'));
    expect(currentWindow(spec, now - 1).startMs).toBe(iso('2025-06-10T11:00:00Z'));
    expect(currentWindow(spec, now - 2).startMs).toBe(iso('2025-06-10T10:59:00Z'));
  });

  it('bucketStart floors to the bucket, calendar to the window start', () => {
    expect(bucketStart(spec, iso('2025-06-10T12:30:59.999Z'))).toBe(iso('2025-06-10T12:30:00Z'));
    expect(bucketStart(spec, iso('2025-06-10T12:31:00Z'))).toBe(iso('2025-06-10T12:31:00Z'));
    expect(bucketStart(calendar('month', 'UTC'), iso('2025-06-10T12:00:00Z'))).toBe(
      iso('2025-06-01T00:00:00Z'),
    );
  });

  it('rollingBucketExpiresAt agrees with currentWindow; null for no bucket', () => {
    if (spec.kind !== 'rolling') throw new Error('unreachable');
    const expires = rollingBucketExpiresAt(spec, 0);
    expect(expires).toBe(61 * MINUTE - 1);
    expect(rollingBucketExpiresAt(spec, null)).toBeNull();
    expect(currentWindow(spec, 61 * MINUTE - 2).startMs).toBe(0);
    expect(currentWindow(spec, 61 * MINUTE - 1).startMs).toBe(MINUTE);
  });

  it('checks the spec', () => {
    expect(windowSpecProblem(spec)).toBeNull();
    expect(windowSpecProblem({ kind: 'rolling', sizeMs: 100, bucketMs: 30 })).toMatch(/whole number/);
    expect(windowSpecProblem({ kind: 'rolling', sizeMs: 0, bucketMs: 1 })).toMatch(/positive/);
  });
});

describe('durations and buckets', () => {
  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('15m')).toBe(15 * MINUTE);
    expect(parseDuration('1h')).toBe(HOUR);
    expect(parseDuration('7d')).toBe(7 * 24 * HOUR);
    expect(parseDuration('30d')).toBe(30 * 24 * HOUR);
    expect(parseDuration('2w')).toBe(14 * 24 * HOUR);
    expect(parseDuration('500ms')).toBe(500);
    for (const bad of ['', '0s', '1.5h', '-1h', '1y', 'h', '10 minutes']) {
      expect(() => parseDuration(bad), bad).toThrow(RangeError);
    }
  });

  it('default bucket is about 1/60 of the size, whole minutes or seconds, and divides the size', () => {
    expect(defaultBucketMs(HOUR)).toBe(MINUTE);
    expect(defaultBucketMs(30 * 24 * HOUR)).toBe(12 * HOUR);
    expect(defaultBucketMs(7 * 24 * HOUR)).toBe(168 * MINUTE);
    expect(defaultBucketMs(15 * MINUTE)).toBe(15_000);
    expect(defaultBucketMs(90_000)).toBe(2_000);
    for (const size of [1, 999, 1000, 61_000, 1_000_000, 3_660_000, 13 * HOUR + 7, 97 * MINUTE]) {
      const bucket = defaultBucketMs(size);
      expect(size % bucket, `size ${size}`).toBe(0);
      expect(bucket).toBeGreaterThan(0);
    }
  });

  it('fingerprints differ when the window does', () => {
    expect(windowFingerprint(calendar('month', 'UTC'))).not.toBe(
      windowFingerprint(calendar('month', 'Europe/Berlin')),
    );
    expect(windowFingerprint({ kind: 'rolling', sizeMs: HOUR, bucketMs: MINUTE })).not.toBe(
      windowFingerprint({ kind: 'rolling', sizeMs: HOUR, bucketMs: 2 * MINUTE }),
    );
  });
});
