import { type Denial, denial, toErrorResponse } from '../errors.ts';
import { estimateResponsesInputTokens } from '../estimate/responses.ts';
import { fail, ok, type Result } from '../result.ts';
import { ResponsesEncoder } from './responses/encoder.ts';
import { chatToResponse } from './responses/response.ts';
import { responsesToChat } from './responses/toChat.ts';
import type { CallShape, Ingress } from './types.ts';

const bad = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Shape checks for a Responses body: enough to price and route it; everything else passes through. */
export function validateResponsesBody(body: Record<string, unknown>): Result<CallShape> {
  if (typeof body.model !== 'string' || body.model.trim() === '')
    return bad('model is required and must be a string', 'model');
  const input = body.input;
  if (input === undefined || input === null) {
    // A stored prompt can stand in for the input; otherwise there is nothing to answer.
    if (body.prompt === undefined || body.prompt === null) return bad('input is required', 'input');
  } else if (typeof input !== 'string' && !Array.isArray(input)) {
    return bad('input must be a string or an array of input items', 'input');
  } else if (Array.isArray(input)) {
    for (let i = 0; i < input.length; i++) {
      const item: unknown = input[i];
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        return bad(`input[${i}] must be an object`, `input[${i}]`);
    }
  }
  const instructions = body.instructions;
  if (
    instructions !== undefined &&
    instructions !== null &&
    typeof instructions !== 'string' &&
    !Array.isArray(instructions)
  )
    return bad('instructions must be a string', 'instructions');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    return bad('stream must be a boolean', 'stream');
  const cap = body.max_output_tokens;
  if (cap !== undefined && cap !== null && !isPositiveInt(cap))
    return bad('max_output_tokens must be a positive integer', 'max_output_tokens');
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools))
    return bad('tools must be an array', 'tools');
  const stream = body.stream === true;
  // A Responses stream always ends with usage (response.completed): nothing to strip.
  return ok({ model: body.model, stream, clientWantsUsage: stream });
}

/** max_output_tokens (which covers reasoning too) or the model's limit, never above the limit. */
function maxOutput(body: Record<string, unknown>, modelMax: number): number {
  const limit = Number.isFinite(modelMax) ? Math.max(0, Math.ceil(modelMax)) : Number.MAX_SAFE_INTEGER;
  const cap = body.max_output_tokens;
  return isPositiveInt(cap) && cap <= limit ? cap : limit;
}

/** Only ever lowers the cap: a smaller one the client asked for is kept. */
function setMaxOutput(body: Record<string, unknown>, tokens: number): void {
  const allowance = Number.isNaN(tokens)
    ? 0
    : Math.max(0, Math.floor(Math.min(tokens, Number.MAX_SAFE_INTEGER)));
  const cap = body.max_output_tokens;
  if (!isPositiveInt(cap) || cap > allowance) body.max_output_tokens = allowance;
}

/** An error inside a started stream: a typed `error` event that also carries OpenAI's error object, so SDKs raise it. */
function streamError(d: Denial): string {
  const { error } = toErrorResponse(d).body;
  const data = { type: 'error', code: error.code, message: error.message, param: error.param, error };
  return `\n\nevent: error\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * POST /v1/responses. Native for providers that speak the Responses API (bytes pass through,
 * metered); translated through canonical chat for the others, so a Responses client reaches
 * any model.
 */
export const openAiResponsesIngress: Ingress = {
  dialect: 'openai-responses',
  endpoint: '/v1/responses',
  outputFields: ['max_output_tokens'],
  validate: validateResponsesBody,
  estimateInput: (body) => estimateResponsesInputTokens(body),
  maxOutput,
  setMaxOutput,
  toCanonical: responsesToChat,
  fromCanonical: (completion, usage, ctx) =>
    chatToResponse(
      completion,
      usage,
      typeof completion.model === 'string' && completion.model !== '' ? completion.model : ctx.model,
    ),
  createEncoder: (ctx) => new ResponsesEncoder(ctx),
  errorResponse: toErrorResponse,
  streamError,
};
