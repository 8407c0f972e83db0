import { type Exchange, sendSuccess } from '../exchange.ts';
import { sendInvalidRequest, sendStatusFault } from '../openaiErrors.ts';
import { finalStatus, responseObject } from './body.ts';
import { planResponse } from './plan.ts';
import { parseResponsesRequest } from './request.ts';
import { streamResponse } from './stream.ts';

export { mockResponsesInputTokens } from './inputTokens.ts';

/**
 * OpenAI's POST /v1/responses: a `response` object, or typed SSE events when streaming,
 * with deterministic usage and the mock's knobs and faults.
 */
export async function handleResponses(ex: Exchange, body: unknown): Promise<void> {
  const parsed = parseResponsesRequest(body);
  if (!parsed.ok) {
    const { message, param, code } = parsed.problem;
    return sendInvalidRequest(ex, message, param, code);
  }
  if (await sendStatusFault(ex, parsed.request.model)) return;
  // `timeout`: hold the request open; the client's timeout or close() ends it.
  if (ex.knobs.fault === 'timeout') return;
  const plan = planResponse(parsed.request, ex.knobs);
  if (parsed.request.stream) return streamResponse(ex, plan);
  const status = finalStatus(plan);
  return sendSuccess(ex, responseObject(plan, status, ex.knobs.fault === 'no-usage' ? null : plan.usage));
}
