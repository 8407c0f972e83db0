import type { CompiledConfig } from '../config/compile.ts';
import { type Denial, denial } from '../errors.ts';
import type { PriceTable } from '../pricing/priceTable.ts';
import { adapterFor } from '../providers/registry.ts';
import { fail, ok, type Result } from '../result.ts';
import type { KeyRecord } from '../store/interface.ts';
import type { Target } from './context.ts';

const invalid = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

/** Model allowlist entries may end in `*` (e.g. "gpt-4.1*"). */
export function modelAllowed(key: KeyRecord, model: string): boolean {
  if (key.models === null) return true;
  return key.models.some((pattern) =>
    pattern.endsWith('*') ? model.startsWith(pattern.slice(0, -1)) : pattern === model,
  );
}

export function resolveTarget(
  config: CompiledConfig,
  prices: PriceTable,
  key: KeyRecord,
  modelId: string,
  body: Record<string, unknown>,
  outputFields: readonly string[],
): Result<Target> {
  const model = config.models.get(modelId);
  if (!model) {
    return fail(
      denial('model_not_found', `The model '${modelId}' does not exist on this gateway.`, { param: 'model' }),
    );
  }
  if (!modelAllowed(key, modelId)) {
    return fail(
      denial('model_not_allowed', `This key may not use the model '${modelId}'.`, { param: 'model' }),
    );
  }
  const modelPrices = prices.get(modelId);
  if (!modelPrices) {
    const why: Denial = denial(
      'model_not_priced',
      `The model '${modelId}' has no known price, so its cost cannot be reserved. Configure models[].prices for it.`,
      { param: 'model' },
    );
    return fail(why);
  }
  for (const field of outputFields) {
    const v = body[field];
    if (typeof v === 'number' && v > model.maxOutputTokens) {
      return invalid(
        `${field} is too large: ${v}. The model '${modelId}' supports at most ${model.maxOutputTokens} output tokens.`,
        field,
      );
    }
  }
  const provider = config.providers.get(model.provider);
  if (!provider)
    return fail(denial('model_not_found', `The model '${modelId}' has no provider.`, { param: 'model' }));
  const adapter = adapterFor(provider.kind);
  if (!adapter) {
    return fail(denial('upstream_error', `No adapter is installed for provider kind '${provider.kind}'.`));
  }
  return ok({ model, provider, adapter, prices: modelPrices });
}
