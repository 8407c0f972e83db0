import type { ModelPrices } from './types.ts';

/**
 * Fills the prices a source may leave out. Defaults are applied only after config
 * overrides are merged over bundled data, so that overriding `input` also moves the
 * cache prices that merely default to it.
 *
 * Without both an input and an output price the model cannot be priced: returning
 * undefined (rather than zeros) makes the gateway refuse it instead of billing $0.
 */
export function completePrices(partial: Partial<ModelPrices>): ModelPrices | undefined {
  const { input, output } = partial;
  if (input === undefined || output === undefined) return undefined;
  return Object.freeze({
    input,
    output,
    // Providers without prompt caching bill these tokens (if any are ever reported) as plain input.
    cacheRead: partial.cacheRead ?? input,
    cacheWrite: partial.cacheWrite ?? input,
    // Reasoning tokens are output tokens for every provider we know of.
    reasoning: partial.reasoning ?? output,
  });
}
