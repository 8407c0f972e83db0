import type { Exchange } from '../exchange.ts';
import type { MockRoute } from '../providerRoutes.ts';
import { anthropicRequestId, sendAnthropicError, sendAnthropicStatusFault } from './errors.ts';
import { planMessages } from './plan.ts';
import { parseMessagesRequest } from './request.ts';
import { sendMessage, streamMessage } from './respond.ts';

export { anthropicInputTokens, MEDIA_TOKENS } from './plan.ts';
export type { MessagesBody } from './request.ts';

/** The one API key the mock Anthropic accepts, in `x-api-key`. */
export const MOCK_ANTHROPIC_API_KEY = 'sk-ant-api03-mock-0000000000000000000000000000';

/** Model families the mock serves; any other name gets Anthropic's 404. */
const SERVED_MODEL = /^claude-/;

function header(ex: Exchange, name: string): string | undefined {
  const v = ex.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** True when the request may go on; otherwise Anthropic's answer has been sent. */
function admitted(ex: Exchange, requestId: string): boolean {
  const key = header(ex, 'x-api-key');
  if (key === undefined || key === '') {
    sendAnthropicError(ex, requestId, 401, 'authentication_error', 'x-api-key header is required');
    return false;
  }
  if (key !== MOCK_ANTHROPIC_API_KEY) {
    sendAnthropicError(ex, requestId, 401, 'authentication_error', 'invalid x-api-key');
    return false;
  }
  if (header(ex, 'anthropic-version') === undefined) {
    sendAnthropicError(ex, requestId, 400, 'invalid_request_error', 'anthropic-version: header is required');
    return false;
  }
  return true;
}

/**
 * Anthropic's Messages API (`POST /v1/messages`): the key and anthropic-version checked, the
 * request validated as Anthropic does, then a Message JSON or SSE events, with the mock's
 * knobs and faults and Anthropic-style errors.
 */
export const anthropicRoute: MockRoute = {
  name: 'anthropic',
  matches: (method, path) => method === 'POST' && path === '/v1/messages',
  async handle(ex, _path, body) {
    const requestId = anthropicRequestId();
    if (!admitted(ex, requestId)) return;
    if (body.kind !== 'json') {
      return sendAnthropicError(
        ex,
        requestId,
        400,
        'invalid_request_error',
        'There was an error parsing the body of your request: expected a JSON object',
      );
    }
    const parsed = parseMessagesRequest(body.value);
    if (!parsed.ok) return sendAnthropicError(ex, requestId, 400, 'invalid_request_error', parsed.message);
    if (!SERVED_MODEL.test(parsed.body.model)) {
      return sendAnthropicError(ex, requestId, 404, 'not_found_error', `model: ${parsed.body.model}`);
    }
    if (await sendAnthropicStatusFault(ex, requestId)) return;
    // `timeout`: hold the request open; the client's timeout or close() ends it.
    if (ex.knobs.fault === 'timeout') return;
    const plan = planMessages(parsed.body, ex.knobs, ex.req.headers);
    return parsed.body.stream === true
      ? streamMessage(ex, requestId, plan)
      : sendMessage(ex, requestId, plan);
  },
};
