import { z } from 'zod';
import { parseDuration } from '../budget/windows.ts';
import { type Nanos, usdToNanos } from '../money.ts';

/**
 * The `runaway:` section of tollgate.yaml. Every field has a default, so an absent section
 * turns detection on in alert-only mode: a platform team hears about a runaway agent without
 * any key being refused until it opts into `action: suspend`.
 */

const duration = z.string().regex(/^\d+(ms|s|m|h|d|w)$/, 'must be a duration like 10s, 1m, 1h');
const usdAmount = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal USD amount'),
]);
const positiveInt = z.number().int().positive();

export const runawaySchema = z
  .object({
    enabled: z.boolean().default(true),
    velocity: z
      .object({
        /** The "now" rate: spend summed over this trailing window. */
        window: duration.default('1m'),
        /** Time constant of the baseline rate (an exponentially weighted mean of older spend). */
        baseline: duration.default('1h'),
        /** Trip when the current rate is above factor × baseline. */
        factor: z.number().min(1).default(10),
        /** Rates below this never trip: a key going from $0.001 to $0.03 a minute is not a runaway. */
        min_usd_per_min: usdAmount.default('0.5'),
        /**
         * A tracker younger than this has no trustworthy baseline yet (new key, or a restart:
         * state is in memory). Meanwhile its baseline is taken as at least min_usd_per_min, so it
         * trips only above factor × min_usd_per_min ($5/min with the defaults).
         */
        warmup: duration.default('10m'),
        /** Spend is summed in buckets of this width; the window must be a whole number of them. */
        bucket: duration.default('10s'),
      })
      .strict()
      .prefault({}),
    repeats: z
      .object({
        window: duration.default('5m'),
        /** Trip when the same key sends the same prompt more than this many times in the window. */
        max_identical: positiveInt.default(20),
      })
      .strict()
      .prefault({}),
    /** alert: report the trip only; suspend: also refuse the key's calls for `cooldown`. */
    action: z.enum(['alert', 'suspend']).default('alert'),
    /** How long a suspension lasts, and the quiet period before the same tracker may trip again. */
    cooldown: duration.default('15m'),
    memory: z
      .object({
        /** Velocity trackers (one per key, one per key × feature) kept at most; least recently used go first. */
        max_trackers: positiveInt.default(50_000),
        /** (key, prompt hash) counters kept at most; least recently used go first. */
        max_prompts: positiveInt.default(100_000),
        /** A velocity tracker untouched this long is dropped; at least the window and the cooldown. */
        idle: duration.default('2h'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type RawRunawayConfig = z.input<typeof runawaySchema>;
export type ParsedRunawayConfig = z.output<typeof runawaySchema>;

export type RunawayAction = 'alert' | 'suspend';

/** The section in the units the detector works in: milliseconds and nanos. */
export interface RunawaySettings {
  enabled: boolean;
  velocity: {
    windowMs: number;
    baselineMs: number;
    factor: number;
    minNanosPerMin: Nanos;
    warmupMs: number;
    bucketMs: number;
  };
  repeats: { windowMs: number; maxIdentical: number };
  action: RunawayAction;
  cooldownMs: number;
  memory: { maxTrackers: number; maxPrompts: number; idleMs: number };
}

/** Buckets per velocity tracker are kept in a ring; this caps its size (and so per-tracker memory). */
export const MAX_WINDOW_BUCKETS = 360;

/**
 * Turns the parsed section into settings; throws RangeError naming the bad field, as
 * `budgetFromRaw` does, so the config loader can report `runaway.<field>: <problem>`.
 */
export function compileRunaway(parsed: ParsedRunawayConfig): RunawaySettings {
  const v = parsed.velocity;
  const windowMs = durationField('velocity.window', v.window);
  const bucketMs = durationField('velocity.bucket', v.bucket);
  const baselineMs = durationField('velocity.baseline', v.baseline);
  if (windowMs % bucketMs !== 0)
    throw new RangeError('runaway.velocity.bucket: the window must be a whole number of buckets');
  if (windowMs / bucketMs > MAX_WINDOW_BUCKETS)
    throw new RangeError(
      `runaway.velocity.bucket: at most ${MAX_WINDOW_BUCKETS} buckets per window; use a wider bucket`,
    );
  if (baselineMs <= windowMs)
    throw new RangeError('runaway.velocity.baseline: must be longer than velocity.window');
  let minNanosPerMin: Nanos;
  try {
    minNanosPerMin = usdToNanos(v.min_usd_per_min);
  } catch (err) {
    throw new RangeError(`runaway.velocity.min_usd_per_min: ${(err as Error).message}`);
  }
  const settings: RunawaySettings = {
    enabled: parsed.enabled,
    velocity: {
      windowMs,
      baselineMs,
      factor: v.factor,
      minNanosPerMin,
      warmupMs: durationField('velocity.warmup', v.warmup),
      bucketMs,
    },
    repeats: {
      windowMs: durationField('repeats.window', parsed.repeats.window),
      maxIdentical: parsed.repeats.max_identical,
    },
    action: parsed.action,
    cooldownMs: durationField('cooldown', parsed.cooldown),
    memory: {
      maxTrackers: parsed.memory.max_trackers,
      maxPrompts: parsed.memory.max_prompts,
      idleMs: durationField('memory.idle', parsed.memory.idle),
    },
  };
  // An evicted tracker forgets its window, and its cooldown with its frozen baseline.
  if (settings.memory.idleMs < Math.max(windowMs, settings.cooldownMs))
    throw new RangeError('runaway.memory.idle: must be at least velocity.window and cooldown');
  return settings;
}

/** Parse and compile in one step, for tests and for callers holding a raw section. */
export function runawaySettings(raw: RawRunawayConfig | undefined = undefined): RunawaySettings {
  return compileRunaway(runawaySchema.parse(raw));
}

function durationField(field: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new RangeError(`runaway.${field}: ${(err as Error).message}`);
  }
}
