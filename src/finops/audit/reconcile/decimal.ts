/**
 * A decimal amount from a provider export times 10^scale, rounded half away from zero to a
 * whole number, without float arithmetic: USD → nanos is scale 9, cents → nanos is scale 7.
 * Null when the value is not a plain decimal or does not fit a safe integer.
 */
export function decimalToNanos(value: unknown, scale: number): number | null {
  const text = plainDecimal(value);
  if (text === null) return null;
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return null;
  const frac = m[3] ?? '';
  const kept = frac.slice(0, scale).padEnd(scale, '0');
  let magnitude = BigInt(m[2] ?? '0') * 10n ** BigInt(scale) + BigInt(kept === '' ? '0' : kept);
  if ((frac[scale] ?? '0') >= '5') magnitude += 1n;
  const n = Number(m[1] === '-' ? -magnitude : magnitude);
  return Number.isSafeInteger(n) ? n : null;
}

function plainDecimal(value: unknown): string | null {
  if (typeof value === 'string') return value.trim();
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  // toLocaleString never uses exponent notation (1e-7 would not parse).
  return value.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 });
}
