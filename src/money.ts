/**
 * Money is integer nano-USD (1e-9 USD) held in a JS number. Integers are exact up to
 * Number.MAX_SAFE_INTEGER, i.e. about $9,007,199 per counter; configs above MAX_USD_NANOS
 * are refused so no counter can lose precision.
 *
 * Prices are integer pico-USD (1e-12) per token so that sub-nano per-token prices
 * (e.g. $0.0375 per million tokens) stay exact; a call's cost is rounded up once, to nanos.
 */
export type Nanos = number;
export type PicoPerToken = number;

export const NANOS_PER_USD = 1_000_000_000;
export const MAX_USD_NANOS: Nanos = 9_000_000 * NANOS_PER_USD;

/** Parses a decimal USD amount ("12.5", 12.5, "0.000000001") to nanos without float arithmetic. */
export function usdToNanos(usd: number | string): Nanos {
  const text = typeof usd === 'number' ? numberToPlainString(usd) : usd.trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new RangeError(`not a non-negative decimal USD amount: ${text}`);
  const whole = match[1] ?? '0';
  const frac = (match[2] ?? '').padEnd(9, '0');
  if (frac.length > 9 && /[1-9]/.test(frac.slice(9))) {
    throw new RangeError(`USD amount has more precision than 1e-9: ${text}`);
  }
  const nanos = BigInt(whole) * 1_000_000_000n + BigInt(frac.slice(0, 9));
  if (nanos > BigInt(MAX_USD_NANOS)) throw new RangeError(`USD amount above the $9M counter limit: ${text}`);
  return Number(nanos);
}

/** Parses a USD-per-million-tokens price to integer pico-USD per token (exact to 1e-6 $/Mtok). */
export function usdPerMillionToPico(usdPerMillion: number | string): PicoPerToken {
  const text = typeof usdPerMillion === 'number' ? numberToPlainString(usdPerMillion) : usdPerMillion.trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new RangeError(`not a non-negative decimal price: ${text}`);
  // $/Mtok * 1e12 pico/$ / 1e6 tok/Mtok = $/Mtok * 1e6 pico/tok
  const whole = match[1] ?? '0';
  const frac = (match[2] ?? '').padEnd(6, '0');
  if (frac.length > 6 && /[1-9]/.test(frac.slice(6))) {
    // Round to the nearest pico: genai-prices floats like 0.15000000000000002 land here.
    const exact = Number(`${whole}.${frac}`) * 1_000_000;
    return Math.round(exact);
  }
  return Number(BigInt(whole) * 1_000_000n + BigInt(frac.slice(0, 6)));
}

/** Formats nanos as a USD decimal string with up to 9 decimals, e.g. 1500000000 -> "1.5". */
export function formatUsd(nanos: Nanos): string {
  const negative = nanos < 0;
  const abs = BigInt(Math.abs(nanos));
  const whole = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Nanos as a JS number of USD, for display and JSON only — never for arithmetic. */
export function nanosToUsdNumber(nanos: Nanos): number {
  return Number(formatUsd(nanos));
}

function numberToPlainString(n: number): string {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`not a non-negative finite amount: ${n}`);
  // toLocaleString avoids exponent notation for tiny values like 1e-7.
  return n.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 });
}
