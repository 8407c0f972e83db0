import type { Amount, Limits } from './types.ts';

/** Every unit an Amount carries, paired with the Limits field that caps it. */
export const AMOUNT_UNITS = [
  { unit: 'nanos', limit: 'usdNanos' },
  { unit: 'tokens', limit: 'tokens' },
  { unit: 'requests', limit: 'requests' },
] as const satisfies ReadonlyArray<{ unit: keyof Amount; limit: keyof Limits }>;

export function zeroAmount(): Amount {
  return { nanos: 0, tokens: 0, requests: 0 };
}

export function copyAmount(a: Amount): Amount {
  return { nanos: a.nanos, tokens: a.tokens, requests: a.requests };
}

export function addAmounts(a: Amount, b: Amount): Amount {
  return { nanos: a.nanos + b.nanos, tokens: a.tokens + b.tokens, requests: a.requests + b.requests };
}

/** Adds `b` into `into` in place; counters do this on the hot path to avoid allocating. */
export function addInto(into: Amount, b: Amount): void {
  into.nanos += b.nanos;
  into.tokens += b.tokens;
  into.requests += b.requests;
}

export function subtractInto(into: Amount, b: Amount): void {
  into.nanos -= b.nanos;
  into.tokens -= b.tokens;
  into.requests -= b.requests;
}

export function isZeroAmount(a: Amount): boolean {
  return a.nanos === 0 && a.tokens === 0 && a.requests === 0;
}

/**
 * Throws unless every unit is a non-negative safe integer. Money stays exact only as integers
 * below 2^53; a fractional or negative amount is a bug upstream, not a budget outcome.
 */
export function assertValidAmount(a: Amount, what: string): void {
  for (const { unit } of AMOUNT_UNITS) {
    const value = a[unit];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${what}: ${unit} must be a non-negative safe integer, got ${value}`);
    }
  }
}
