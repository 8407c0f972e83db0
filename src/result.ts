import type { Denial } from './errors.ts';

/** A phase's outcome: a value, or a catalogued denial that stops the pipeline. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: Denial };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(error: Denial): Result<T> {
  return { ok: false, error };
}
