import type { Amount } from '../../budget/types.ts';
import { formatUsd, type Nanos } from '../../money.ts';
import type { AmountView, MoneyView } from './types.ts';

export function moneyView(nanos: Nanos): MoneyView {
  return { usd: formatUsd(nanos), nanos };
}

export function amountView(a: Amount): AmountView {
  return { usd: formatUsd(a.nanos), nanos: a.nanos, tokens: a.tokens, requests: a.requests };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Distinct values in first-seen order. */
export function distinct(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

/** "3 rows" / "1 row"; irregular plurals passed in. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
