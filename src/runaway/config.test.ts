import { describe, expect, it } from 'vitest';
import { compileRunaway, runawaySchema, runawaySettings } from './config.ts';

describe('runaway config', () => {
  it('an absent section turns detection on, alert-only, with the documented defaults', () => {
    expect(runawaySettings()).toEqual({
      enabled: true,
      velocity: {
        windowMs: 60_000,
        baselineMs: 3_600_000,
        factor: 10,
        minNanosPerMin: 500_000_000,
        warmupMs: 600_000,
        bucketMs: 10_000,
      },
      repeats: { windowMs: 300_000, maxIdentical: 20 },
      action: 'alert',
      cooldownMs: 900_000,
      memory: { maxTrackers: 50_000, maxPrompts: 100_000, idleMs: 7_200_000 },
    });
  });

  it('fills defaults inside a partly written section and takes USD as a decimal string or a number', () => {
    const s = runawaySettings({ action: 'suspend', velocity: { min_usd_per_min: '0.000000001' } });
    expect(s.action).toBe('suspend');
    expect(s.velocity.minNanosPerMin).toBe(1);
    expect(s.velocity.factor).toBe(10);
    expect(runawaySettings({ velocity: { min_usd_per_min: 2.25 } }).velocity.minNanosPerMin).toBe(
      2_250_000_000,
    );
  });

  it('rejects unknown fields and bad values at parse time', () => {
    expect(runawaySchema.safeParse({ velocity: { windwo: '1m' } }).success).toBe(false);
    expect(runawaySchema.safeParse({ action: 'block' }).success).toBe(false);
    expect(runawaySchema.safeParse({ velocity: { factor: 0.5 } }).success).toBe(false);
    expect(runawaySchema.safeParse({ repeats: { max_identical: 0 } }).success).toBe(false);
    expect(runawaySchema.safeParse({ cooldown: '15 minutes' }).success).toBe(false);
  });

  it('names the field when durations do not fit together', () => {
    const compile = (raw: unknown) => () => compileRunaway(runawaySchema.parse(raw));
    expect(compile({ velocity: { window: '1m', bucket: '7s' } })).toThrow(
      'runaway.velocity.bucket: the window must be a whole number of buckets',
    );
    expect(compile({ velocity: { window: '1h', bucket: '1s' } })).toThrow(/at most 360 buckets/);
    expect(compile({ velocity: { window: '1h', baseline: '1h', bucket: '1m' } })).toThrow(
      'runaway.velocity.baseline: must be longer than velocity.window',
    );
    expect(compile({ cooldown: '0m' })).toThrow(/^runaway\.cooldown: /);
    expect(compile({ memory: { idle: '30s' } })).toThrow(
      'runaway.memory.idle: must be at least velocity.window',
    );
  });
});
