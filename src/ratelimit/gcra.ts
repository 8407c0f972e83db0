/**
 * GCRA (generic cell rate algorithm) in integer form, for per-minute limits.
 *
 * A bucket's `level` is GCRA's lead of the theoretical arrival time over now (TAT − now),
 * scaled by the limit so everything stays an integer: one unit costs `PERIOD_MS`, the level
 * drains `limit` per ms, and a bucket holds `limit × PERIOD_MS`. That is GCRA with emission
 * interval PERIOD_MS / limit and burst = limit (a full minute's worth), with no float drift
 * at the boundaries: rpm 10 admits 10 at once, then exactly one per 6,000 ms.
 *
 * Exact while levels stay below 2^53: limits up to `MAX_LIMIT` per minute.
 * The same formulas port one-to-one to a Redis script.
 */
export const PERIOD_MS = 60_000;
export const MAX_LIMIT = 1_000_000_000;

export function costOf(units: number): number {
  return units * PERIOD_MS;
}

export function capacityOf(limit: number): number {
  return limit * PERIOD_MS;
}

/** The level after `elapsedMs` of draining; never below empty. */
export function drain(level: number, limit: number, elapsedMs: number): number {
  return Math.max(0, level - limit * Math.max(0, elapsedMs));
}

/** Ms until `units` more fit; 0 when they fit now. Only meaningful when units ≤ limit. */
export function waitFor(level: number, limit: number, units: number): number {
  const excess = level + costOf(units) - capacityOf(limit);
  return excess <= 0 ? 0 : Math.ceil(excess / limit);
}

/** Whole units that fit now (0 while overdrawn). */
export function remainingUnits(level: number, limit: number): number {
  return Math.max(0, Math.floor((capacityOf(limit) - level) / PERIOD_MS));
}

/** Ms until the bucket is empty (fully refilled). */
export function msUntilFull(level: number, limit: number): number {
  return Math.ceil(level / limit);
}

/**
 * How much of one charge can still be given back at `elapsedMs` after it was made.
 * The level drains first in, first out: the charge sat at [end − cost, end] and everything up
 * to `limit × elapsed` has drained since, so only what lies beyond that is still held.
 * Refunds made to the bucket since (`refundedSince`, of other calls) moved the charge down the
 * queue too: without counting them, a charge that has drained would be given back a second time.
 * Giving back more than is held would return capacity that time has already returned, and a
 * busy bucket would then admit more than its rate (the refund counted twice).
 */
export function stillHeld(
  chargeEnd: number,
  cost: number,
  limit: number,
  elapsedMs: number,
  refundedSince = 0,
): number {
  return Math.min(cost, Math.max(0, chargeEnd - Math.max(0, refundedSince) - limit * Math.max(0, elapsedMs)));
}
