import type { CompiledConfig } from '../config/compile.ts';
import { type Denial, denial } from '../errors.ts';
import type { PriceTable } from '../pricing/priceTable.ts';
import { adapterFor } from '../providers/registry.ts';
import { fail, ok, type Result } from '../result.ts';
import type { KeyRecord } from '../store/interface.ts';
import type { Target } from './context.ts';

const bad = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

function isPositiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Shape checks for a chat-completions body: enough to price and route it; everything else passes through. */
export function validateChatBody(
  body: Record<string, unknown>,
): Result<{ stream: boolean; clientWantsUsage: boolean }> {
  if (typeof body.model !== 'string' || body.model.trim() === '')
    return bad('model is required and must be a string', 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return bad('messages is required and must be a non-empty array', 'messages');
  }
  for (let i = 0; i < body.messages.length; i++) {
    const m: unknown = body.messages[i];
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      return bad(`messages[${i}] must be an object`, `messages[${i}]`);
    const role = (m as Record<string, unknown>).role;
    if (typeof role !== 'string' || role === '')
      return bad(`messages[${i}].role must be a string`, `messages[${i}].role`);
    const content = (m as Record<string, unknown>).content;
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      return bad(
        `messages[${i}].content must be a string or an array of content parts`,
        `messages[${i}].content`,
      );
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return bad('stream must be a boolean', 'stream');
  }
  for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
    if (body[field] !== undefined && body[field] !== null && !isPositiveInt(body[field])) {
      return bad(`${field} must be a positive integer`, field);
    }
  }
  if (body.n !== undefined && body.n !== null && (!isPositiveInt(body.n) || (body.n as number) > 128)) {
    return bad('n must be an integer from 1 to 128', 'n');
  }
  const so = body.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) {
    return bad('stream_options must be an object', 'stream_options');
  }
  const stream = body.stream === true;
  const clientWantsUsage =
    stream && (so as { include_usage?: unknown } | null | undefined)?.include_usage === true;
  return ok({ stream, clientWantsUsage });
}

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
  for (const field of ['max_tokens', 'max_completion_tokens'] as const) {
    const v = body[field];
    if (typeof v === 'number' && v > model.maxOutputTokens) {
      return bad(
        `${field} is too large: ${v}. The model '${modelId}' supports at most ${model.maxOutputTokens} output tokens.`,
        field,
      );
    }
  }
  const provider = config.providers.get(model.provider);
  if (!provider)
    return fail(denial('model_not_found', `The model '${modelId}' has no provider.`, { param: 'model' }));
  return ok({ model, provider, adapter: adapterFor(provider.kind), prices: modelPrices });
}
