import { describe, expect, it } from 'vitest';
import { MAX_ROLLING_BUCKETS, redisWindowProblem, WindowPlanner, windowArgs } from './windowSlots.ts';

const MINUTE = 60_000;
const T0 = Date.parse('2025-06-10T12:00:30Z');

describe('WindowPlanner', () => {
  it('a rolling window is every bucket from the one holding now - size + 1 to the one holding now', () => {
    const spec = { kind: 'rolling', sizeMs: 10 * MINUTE, bucketMs: MINUTE } as const;
    const plan = new WindowPlanner().plan('p', spec, T0);
    const bucket = Date.parse('2025-06-10T12:00:00Z');
    // (now - 10 min, now] touches 11 buckets: 11:50 (in part) to 12:00.
    expect([plan.firstSlot, plan.lastSlot]).toEqual([bucket - 10 * MINUTE, bucket]);
    expect(plan.bounds.startMs).toBe(bucket - 10 * MINUTE);
    expect(windowArgs('p', spec, plan)).toEqual([
      'p',
      'r',
      bucket - 10 * MINUTE,
      bucket,
      MINUTE,
      10 * MINUTE,
    ]);
    // On the last ms of a bucket, the oldest one has just left entirely.
    const edge = new WindowPlanner().plan('p', spec, bucket + MINUTE - 1);
    expect([edge.firstSlot, edge.lastSlot]).toEqual([bucket - 9 * MINUTE, bucket]);
  });

  it('a calendar window is one slot: its start', () => {
    const spec = { kind: 'calendar', every: 'month', tz: 'Europe/Berlin' } as const;
    const plan = new WindowPlanner().plan('p', spec, T0);
    const start = Date.parse('2025-05-31T22:00:00Z');
    expect([plan.firstSlot, plan.lastSlot]).toEqual([start, start]);
    expect(windowArgs('p', spec, plan)).toEqual(['p', 'c', start, start, 0, 0]);
  });

  it('books into the slot of the time, kept for the window plus slack', () => {
    const planner = new WindowPlanner();
    const rolling = { kind: 'rolling', sizeMs: 10 * MINUTE, bucketMs: MINUTE } as const;
    const bucket = Date.parse('2025-06-10T12:00:00Z');
    expect(planner.booking('r', rolling, T0)).toEqual({ slot: bucket, keepMs: bucket + 21 * MINUTE - T0 });
    const daily = { kind: 'calendar', every: 'day', tz: 'UTC' } as const;
    const day = Date.parse('2025-06-10T00:00:00Z');
    expect(planner.booking('d', daily, T0)).toEqual({ slot: day, keepMs: day + 4 * 86_400_000 - T0 });
  });

  it('refuses rolling windows too fine for a script to sum', () => {
    expect(redisWindowProblem({ kind: 'rolling', sizeMs: 60 * MINUTE, bucketMs: MINUTE })).toBeNull();
    const dayOfMinutes = { kind: 'rolling', sizeMs: MAX_ROLLING_BUCKETS * MINUTE, bucketMs: MINUTE } as const;
    expect(redisWindowProblem(dayOfMinutes)).toBeNull();
    const tooFine = { kind: 'rolling', sizeMs: 1441 * MINUTE, bucketMs: MINUTE } as const;
    expect(redisWindowProblem(tooFine)).toBe(
      'a rolling window of 1441 buckets is too fine for the Redis counters (at most 1440); use a wider bucket',
    );
    expect(() => new WindowPlanner().plan('p', tooFine, T0)).toThrow(RangeError);
    expect(redisWindowProblem({ kind: 'calendar', every: 'year', tz: 'UTC' })).toBeNull();
  });
});
