import type { CompiledConfig, ModelEntry } from '../config/compile.ts';
import { type Denial, denial } from '../errors.ts';
import type { PriceTable } from '../pricing/priceTable.ts';
import { adapterFor } from '../providers/registry.ts';
import { fail, ok, type Result } from '../result.ts';
import type { KeyRecord } from '../store/interface.ts';
import type { Target } from './context.ts';

const invalid = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

/** Allowlist entries may end in `*` (e.g. "gpt-4.1*"). */
export function globAllows(patterns: readonly string[] | null | undefined, name: string): boolean {
  if (!patterns) return true;
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name,
  );
}

export function modelAllowed(key: KeyRecord, model: string): boolean {
  return globAllows(key.models, model);
}

/** The providers serving a model that this key may use, primary first. */
export function allowedRoutes(config: CompiledConfig, key: KeyRecord, modelId: string): ModelEntry[] {
  return (config.routes.get(modelId) ?? []).filter((m) => globAllows(key.scopes.providers, m.provider));
}

export interface ResolveOptions {
  /** A model the gateway chose (degrade), not the client: the key's model allowlist does not apply. */
  chosenByGateway?: boolean;
}

export function resolveTarget(
  config: CompiledConfig,
  prices: PriceTable,
  key: KeyRecord,
  modelId: string,
  body: Record<string, unknown>,
  outputFields: readonly string[],
  opts: ResolveOptions = {},
): Result<Target> {
  if (!config.models.has(modelId)) {
    return fail(
      denial('model_not_found', `The model '${modelId}' does not exist on this gateway.`, { param: 'model' }),
    );
  }
  if (!opts.chosenByGateway && !modelAllowed(key, modelId)) {
    return fail(
      denial('model_not_allowed', `This key may not use the model '${modelId}'.`, { param: 'model' }),
    );
  }
  const routes = allowedRoutes(config, key, modelId);
  const model = routes[0];
  if (!model) {
    const served = (config.routes.get(modelId) ?? []).map((m) => m.provider).join(', ');
    return fail(
      denial(
        'provider_not_allowed',
        `This key may not use any provider serving '${modelId}' (served by ${served}).`,
        { param: 'model' },
      ),
    );
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
  return targetFor(config, prices, model);
}

/** The target of one route of a model: its provider, adapter and prices. */
export function targetFor(config: CompiledConfig, prices: PriceTable, model: ModelEntry): Result<Target> {
  const modelPrices = prices.get(model.priceKey);
  if (!modelPrices) {
    const why: Denial = denial(
      'model_not_priced',
      `The model '${model.id}' (provider ${model.provider}) has no known price, so its cost cannot be reserved. Configure models[].prices for it.`,
      { param: 'model' },
    );
    return fail(why);
  }
  const provider = config.providers.get(model.provider);
  if (!provider)
    return fail(denial('model_not_found', `The model '${model.id}' has no provider.`, { param: 'model' }));
  const adapter = adapterFor(provider.kind);
  if (!adapter) {
    return fail(denial('upstream_error', `No adapter is installed for provider kind '${provider.kind}'.`));
  }
  return ok({ model, provider, adapter, prices: modelPrices });
}
