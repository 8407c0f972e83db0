import { type Denial, denial, toErrorResponse } from '../errors.ts';
import { estimateEmbeddingsInputTokens } from '../estimate/embeddings.ts';
import { sseData } from '../providers/sse.ts';
import { fail, ok, type Result } from '../result.ts';
import type { CallShape, Ingress } from './types.ts';

const bad = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

const isTokenArray = (v: unknown): boolean =>
  Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0);

/** input: a string, an array of strings, a token array, or an array of token arrays; never empty. */
export function validateEmbeddingsBody(body: Record<string, unknown>): Result<CallShape> {
  if (typeof body.model !== 'string' || body.model.trim() === '')
    return bad('model is required and must be a string', 'model');
  const input = body.input;
  const valid =
    (typeof input === 'string' && input !== '') ||
    isTokenArray(input) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      input.every((item) => (typeof item === 'string' && item !== '') || isTokenArray(item)));
  if (!valid) {
    return bad(
      'input must be a non-empty string, an array of non-empty strings, a token array or an array of token arrays',
      'input',
    );
  }
  if (body.stream !== undefined && body.stream !== null && body.stream !== false)
    return bad('embeddings cannot be streamed', 'stream');
  return ok({ model: body.model, stream: false, clientWantsUsage: false });
}

/**
 * POST /v1/embeddings: input tokens only, so the worst case is input × input price and the
 * output allowance is 0 (nothing to clamp). Only providers that speak it natively serve it.
 */
export const openAiEmbeddingsIngress: Ingress = {
  dialect: 'openai-embeddings',
  endpoint: '/v1/embeddings',
  outputFields: [],
  validate: validateEmbeddingsBody,
  estimateInput: (body) => estimateEmbeddingsInputTokens(body),
  maxOutput: () => 0,
  // No output to lower: a budget that cannot cover the input denies the call.
  setMaxOutput: () => {},
  toCanonical: null,
  // Unreachable without toCanonical; the canonical completion is returned as-is.
  fromCanonical: (completion) => completion,
  createEncoder: () => ({ encode: () => '', finish: () => '' }),
  errorResponse: toErrorResponse,
  streamError: (d: Denial) => `\n\n${sseData(JSON.stringify(toErrorResponse(d).body))}`,
};
