import { usdPerMillionToPico } from '../money.ts';
import { bundledRawPrices, bundledTiers } from './bundled.ts';
import { completePrices } from './complete.ts';
import type { ModelPrices, PriceSource, PriceTable } from './types.ts';

export type { PriceSource, PriceTable } from './types.ts';

/** Config prices in USD per million tokens; each given field wins over bundled data. */
export interface PriceOverride {
  input?: number | string;
  output?: number | string;
  cache_read?: number | string;
  cache_write?: number | string;
  reasoning?: number | string;
}

export interface PricedModel {
  /** The id clients send (`model` in the request). */
  id: string;
  provider: string;
  /** The id the provider knows; bundled prices are looked up by it. */
  upstreamModel: string;
  prices?: PriceOverride;
}

const OVERRIDE_FIELDS = {
  input: 'input',
  output: 'output',
  cache_read: 'cacheRead',
  cache_write: 'cacheWrite',
  reasoning: 'reasoning',
} as const satisfies Record<keyof PriceOverride, keyof ModelPrices>;

const ALL_FIELDS: ReadonlyArray<keyof ModelPrices> = Object.values(OVERRIDE_FIELDS);

interface Entry {
  prices: ModelPrices | undefined;
  source: PriceSource;
}

/**
 * Resolves every configured model's prices once, at startup, so the request path is a
 * Map lookup. Throws (naming the model) on an invalid price or a duplicate id: both are
 * config errors that must stop startup, not surface as a mispriced call later.
 */
export function buildPriceTable(models: ReadonlyArray<PricedModel>): PriceTable {
  const entries = new Map<string, Entry>();
  for (const model of models) {
    if (entries.has(model.id)) throw new Error(`duplicate model id in price table: ${model.id}`);
    entries.set(model.id, resolve(model));
  }
  return {
    get: (modelId) => entries.get(modelId)?.prices,
    source: (modelId) => entries.get(modelId)?.source ?? 'none',
  };
}

function resolve(model: PricedModel): Entry {
  const override = parseOverride(model);
  const bundled = bundledRawPrices(model.upstreamModel, model.provider) ?? {};
  const merged: Partial<ModelPrices> = { ...bundled, ...override };
  const flat = completePrices(merged);
  if (flat === undefined) return { prices: flat, source: 'none' };
  const prices = withTiers(flat, model, Object.keys(override).length > 0);
  // Bundled data counts as a source only if it supplied a field that config did not.
  const usedBundled = ALL_FIELDS.some(
    (field) => override[field] === undefined && bundled[field] !== undefined,
  );
  const usedConfig = Object.keys(override).length > 0;
  const source: PriceSource = usedBundled ? (usedConfig ? 'override+bundled' : 'bundled') : 'config';
  return { prices, source };
}

/**
 * Adds the bundled long-context tiers. A config price replaces the model's pricing as a whole,
 * so a model with any override is priced flat: bundled tiers would contradict it.
 */
function withTiers(flat: ModelPrices, model: PricedModel, overridden: boolean): ModelPrices {
  if (overridden) return flat;
  const tiers = bundledTiers(model.upstreamModel, model.provider)
    .map((t) => ({ aboveInputTokens: t.aboveInputTokens, prices: completePrices(t.prices) }))
    .filter((t): t is { aboveInputTokens: number; prices: ModelPrices } => t.prices !== undefined);
  return tiers.length === 0 ? flat : Object.freeze({ ...flat, tiers });
}

function parseOverride(model: PricedModel): Partial<ModelPrices> {
  const out: Partial<ModelPrices> = {};
  if (model.prices === undefined) return out;
  for (const key of Object.keys(OVERRIDE_FIELDS) as Array<keyof PriceOverride>) {
    const value = model.prices[key];
    if (value === undefined) continue;
    try {
      const pico = usdPerMillionToPico(value);
      if (!Number.isSafeInteger(pico)) throw new RangeError(`price too large: ${value}`);
      out[OVERRIDE_FIELDS[key]] = pico;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`model ${model.id}: invalid price ${key}: ${reason}`);
    }
  }
  return out;
}
