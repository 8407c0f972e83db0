import {
  type ConditionalPrice,
  calcPrice,
  type ModelPrice,
  type PriceCalculation,
} from '@pydantic/genai-prices';
import { type PicoPerToken, usdPerMillionToPico } from '../money.ts';
import { completePrices } from './complete.ts';
import type { ModelPrices } from './types.ts';

/** genai-prices keys (USD per million tokens) for each of our price fields. */
const FIELD_KEYS = {
  input: 'input_mtok',
  output: 'output_mtok',
  cacheRead: 'cache_read_mtok',
  cacheWrite: 'cache_write_mtok',
} as const satisfies Partial<Record<keyof ModelPrices, string>>;

type BundledField = keyof typeof FIELD_KEYS;

/**
 * Prices from the bundled genai-prices data for an upstream model, with defaults
 * (cache read/write = input, reasoning = output). undefined when the data does not
 * know the model or lacks an input or output price.
 */
export function bundledPrices(upstreamModel: string, providerId: string): ModelPrices | undefined {
  const raw = bundledRawPrices(upstreamModel, providerId);
  return raw === undefined ? undefined : completePrices(raw);
}

/**
 * Only the fields the bundled data actually has, so that config overrides can be merged
 * field by field before defaults are applied (see completePrices).
 *
 * - Tiered prices (e.g. >200k-token prompts) give their base tier here; the tiers
 *   themselves come from bundledTiers.
 * - Start-date price changes resolve to the price in force now (the table is built at startup).
 * - Time-of-day prices (off-peak discounts) resolve to the highest price of the day, field
 *   by field: a table built once cannot follow the clock, and billing the peak price can
 *   only over-reserve, never let spend slip past a cap.
 */
export function bundledRawPrices(
  upstreamModel: string,
  providerId: string,
  now: Date = new Date(),
): Partial<ModelPrices> | undefined {
  const current = lookup(upstreamModel, providerId, now);
  if (current === undefined) return undefined;
  let prices = toPartial(current.model_price);
  for (const instant of timeOfDayStarts(current.model.prices, now)) {
    const other = lookup(upstreamModel, providerId, instant);
    if (other !== undefined) prices = maxFields(prices, toPartial(other.model_price));
  }
  return prices;
}

/**
 * Long-context tiers in the bundled data, as partial prices per threshold: above `start`
 * input tokens, each field takes its own tier price, or its base when it has no tier there.
 */
export function bundledTiers(
  upstreamModel: string,
  providerId: string,
  now: Date = new Date(),
): Array<{ aboveInputTokens: number; prices: Partial<ModelPrices> }> {
  const current = lookup(upstreamModel, providerId, now);
  if (current === undefined) return [];
  const starts = new Set<number>();
  for (const key of Object.values(FIELD_KEYS)) {
    const value = current.model_price[key];
    if (typeof value === 'object' && value !== null) for (const t of value.tiers) starts.add(t.start);
  }
  return [...starts]
    .sort((a, b) => a - b)
    .map((start) => {
      const prices: Partial<ModelPrices> = {};
      for (const field of Object.keys(FIELD_KEYS) as BundledField[]) {
        const value = current.model_price[FIELD_KEYS[field]];
        let usd: number | undefined = typeof value === 'number' ? value : value?.base;
        if (typeof value === 'object' && value !== null) {
          for (const t of value.tiers) if (t.start <= start) usd = t.price;
        }
        if (typeof usd === 'number' && Number.isFinite(usd) && usd >= 0)
          prices[field] = usdPerMillionToPico(usd);
      }
      return { aboveInputTokens: start, prices };
    });
}

/** The model's context window (tokens) in the bundled data, if it has one. */
export function bundledContextWindow(upstreamModel: string, providerId: string): number | undefined {
  const window = lookup(upstreamModel, providerId, new Date())?.model.context_window;
  return typeof window === 'number' && Number.isInteger(window) && window > 0 ? window : undefined;
}

function lookup(upstreamModel: string, providerId: string, timestamp: Date): PriceCalculation | undefined {
  try {
    return calcPrice({}, upstreamModel, { providerId, timestamp }) ?? undefined;
  } catch {
    // Third-party data quirks must not crash startup: the model is simply unpriced by
    // bundled data, and the gateway then requires a config price for it.
    return undefined;
  }
}

function toPartial(modelPrice: ModelPrice): Partial<ModelPrices> {
  const out: Partial<ModelPrices> = {};
  for (const field of Object.keys(FIELD_KEYS) as BundledField[]) {
    const pico = toPico(modelPrice[FIELD_KEYS[field]]);
    if (pico !== undefined) out[field] = pico;
  }
  return out;
}

function toPico(value: ModelPrice[string]): PicoPerToken | undefined {
  const usdPerMillion = typeof value === 'number' ? value : value?.base;
  if (typeof usdPerMillion !== 'number' || !Number.isFinite(usdPerMillion) || usdPerMillion < 0) {
    return undefined;
  }
  return usdPerMillionToPico(usdPerMillion);
}

function maxFields(a: Partial<ModelPrices>, b: Partial<ModelPrices>): Partial<ModelPrices> {
  const out: Partial<ModelPrices> = { ...a };
  for (const field of Object.keys(FIELD_KEYS) as BundledField[]) {
    const x = a[field];
    const y = b[field];
    if (y !== undefined) out[field] = x === undefined ? y : Math.max(x, y);
  }
  return out;
}

/** Instants (on today's UTC date) at which each daily price window of the model opens. */
function timeOfDayStarts(prices: ConditionalPrice[] | ModelPrice, now: Date): Date[] {
  if (!Array.isArray(prices)) return [];
  const day = now.toISOString().slice(0, 10);
  const instants: Date[] = [];
  for (const { constraint } of prices) {
    if (constraint?.type !== 'time_of_date') continue;
    // start_time is an ISO time with offset ("00:30:00Z", "09:00:00+08:00").
    const instant = new Date(`${day}T${constraint.start_time}`);
    if (!Number.isNaN(instant.getTime())) instants.push(instant);
  }
  return instants;
}
