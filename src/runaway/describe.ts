import { nanosToUsdNumber } from '../money.ts';

/** "$6.20/min" — for sentences people read, never for arithmetic. */
export function usdPerMin(nanosPerMin: number): string {
  const usd = nanosToUsdNumber(Math.round(nanosPerMin));
  return `$${usd > 0 && usd < 0.01 ? usd.toPrecision(2) : usd.toFixed(2)}/min`;
}

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** 300000 -> "5m": durations back in the form the config wrote them. */
export function durationText(ms: number): string {
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
