import type { CallRecord } from '../../ledger/types.ts';
import type { Nanos, PicoPerToken } from '../../money.ts';
import { costNanos, pricesAt } from '../../pricing/cost.ts';
import type { ModelPrices } from '../../pricing/types.ts';

/**
 * One call's cost split across its token kinds, exactly: the lines' nanos always sum to the
 * ledger row's cost. Output excludes reasoning (reasoning is its own line) and input excludes
 * cache tokens, so no token is counted on two lines.
 */

export type TokenKind = 'input' | 'cache_read' | 'cache_write' | 'output' | 'reasoning' | 'reserved';

/** Fixed order: lines, remainders and output rows follow it. */
export const TOKEN_KINDS: readonly TokenKind[] = [
  'input',
  'cache_read',
  'cache_write',
  'output',
  'reasoning',
  'reserved',
];

/** The model's prices by the ledger's (model_used, provider), or undefined when unknown. */
export type PriceLookup = (model: string, provider: string) => ModelPrices | undefined;

export const noPrices: PriceLookup = () => undefined;

export interface KindLine {
  kind: TokenKind;
  tokens: number;
  nanos: Nanos;
  /** The per-token list price the call was billed at; null when it cannot be shown (see splitCall). */
  unitPico: PicoPerToken | null;
  /** The long-context tier's threshold the call was priced in, or null for base prices. */
  tierAbove: number | null;
}

const PRICE_FIELD: Record<Exclude<TokenKind, 'reserved'>, keyof Omit<ModelPrices, 'tiers'>> = {
  input: 'input',
  cache_read: 'cacheRead',
  cache_write: 'cacheWrite',
  output: 'output',
  reasoning: 'reasoning',
};

/** Token counts by kind, as the lines carry them. */
export function kindQuantities(r: CallRecord): Record<Exclude<TokenKind, 'reserved'>, number> {
  const output = whole(r.outputTokens);
  const reasoning = Math.min(whole(r.reasoningTokens), output);
  return {
    input: whole(r.inputTokens),
    cache_read: whole(r.cacheReadTokens),
    cache_write: whole(r.cacheWriteTokens),
    output: output - reasoning,
    reasoning,
  };
}

/**
 * Weights are each kind's list cost (tokens × the price in force) when today's prices reproduce
 * the row's cost exactly; otherwise (prices unknown, or changed since the call) plain token
 * counts, and no unit price is claimed. A row with cost but no tokens (a crashed call settled at
 * its reservation) becomes one `reserved` line. Each line gets floor(cost × weight / total);
 * the few leftover nanos go to the heaviest line.
 */
export function splitCall(r: CallRecord, prices: PriceLookup): KindLine[] {
  const qty = kindQuantities(r);
  const kinds = TOKEN_KINDS.filter((k): k is Exclude<TokenKind, 'reserved'> => k !== 'reserved');
  if (kinds.every((k) => qty[k] === 0)) {
    return r.cost > 0
      ? [
          {
            kind: 'reserved',
            tokens: whole(r.reservedTokens),
            nanos: r.cost,
            unitPico: null,
            tierAbove: null,
          },
        ]
      : [];
  }
  const base = prices(r.modelUsed, r.provider);
  const billedAt = base && costNanos(usageOf(r), base) === r.cost ? base : undefined;
  const inputSide = r.inputTokens + r.cacheReadTokens + r.cacheWriteTokens;
  const unit = billedAt ? pricesAt(billedAt, inputSide) : undefined;
  const tierAbove = billedAt ? tierThreshold(billedAt, inputSide) : null;

  let weights = kinds.map((k) => BigInt(qty[k]) * (unit ? BigInt(unit[PRICE_FIELD[k]]) : 1n));
  if (weights.every((w) => w === 0n)) weights = kinds.map((k) => BigInt(qty[k]));
  const shares = apportion(BigInt(r.cost), weights);
  const lines: KindLine[] = [];
  kinds.forEach((kind, i) => {
    const nanos = Number(shares[i] ?? 0n);
    if (qty[kind] === 0 && nanos === 0) return;
    lines.push({
      kind,
      tokens: qty[kind],
      nanos,
      unitPico: unit ? unit[PRICE_FIELD[kind]] : null,
      tierAbove,
    });
  });
  return lines;
}

/** Splits `total` in proportion to `weights` (not all zero); shares sum to `total` exactly. */
export function apportion(total: bigint, weights: readonly bigint[]): bigint[] {
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum === 0n) throw new RangeError('apportion needs a non-zero weight');
  const shares = weights.map((w) => (total * w) / sum);
  const left = total - shares.reduce((a, b) => a + b, 0n);
  let heaviest = 0;
  weights.forEach((w, i) => {
    if (w > (weights[heaviest] ?? 0n)) heaviest = i;
  });
  shares[heaviest] = (shares[heaviest] ?? 0n) + left;
  return shares;
}

function tierThreshold(p: ModelPrices, inputSide: number): number | null {
  let above: number | null = null;
  for (const tier of p.tiers ?? []) if (inputSide > tier.aboveInputTokens) above = tier.aboveInputTokens;
  return above;
}

function usageOf(r: CallRecord) {
  return {
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    cacheReadTokens: r.cacheReadTokens,
    cacheWriteTokens: r.cacheWriteTokens,
    reasoningTokens: r.reasoningTokens,
  };
}

function whole(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}
