import type { Exchange } from './exchange.ts';
import { pause, sendJson } from './exchange.ts';

/** OpenAI's error envelope, field order included. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openaiError(
  message: string,
  type = 'invalid_request_error',
  param: string | null = null,
  code: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

export function sendError(
  ex: Exchange,
  status: number,
  body: OpenAIErrorBody,
  headers?: Record<string, string>,
): void {
  sendJson(ex, status, body, headers);
}

export function sendInvalidRequest(
  ex: Exchange,
  message: string,
  param: string | null = null,
  code: string | null = null,
): void {
  sendError(ex, 400, openaiError(message, 'invalid_request_error', param, code));
}

export const MALFORMED_JSON_MESSAGE =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

export function sendMissingKey(ex: Exchange): void {
  sendError(
    ex,
    401,
    openaiError(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
    ),
  );
}

/** OpenAI shows only the ends of a wrong key. */
function redact(key: string): string {
  return key.length <= 8
    ? '*'.repeat(key.length)
    : `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}

export function sendWrongKey(ex: Exchange, key: string): void {
  sendError(
    ex,
    401,
    openaiError(
      `Incorrect API key provided: ${redact(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      'invalid_request_error',
      null,
      'invalid_api_key',
    ),
  );
}

export function sendUnknownRoute(ex: Exchange, method: string, path: string): void {
  sendError(ex, 404, openaiError(`Invalid URL (${method} ${path})`));
}

export function sendUnknownModel(ex: Exchange, model: string): void {
  sendError(
    ex,
    404,
    openaiError(`The model '${model}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'),
  );
}

/**
 * The status faults (429, 500, 503), answered after the configured latency.
 * Returns false when the fault is not one of them.
 */
export async function sendStatusFault(ex: Exchange, model: string): Promise<boolean> {
  const fault = ex.knobs.fault;
  if (fault !== '429' && fault !== '500' && fault !== '503') return false;
  if (!(await pause(ex, ex.knobs.latencyMs))) return true;
  if (fault === '429') {
    const seconds = ex.knobs.retryAfterSeconds;
    sendError(
      ex,
      429,
      openaiError(
        `Rate limit reached for ${model} in organization org-mock on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in ${seconds}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        'requests',
        null,
        'rate_limit_exceeded',
      ),
      {
        'retry-after': String(seconds),
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': `${seconds}s`,
      },
    );
  } else if (fault === '500') {
    sendError(
      ex,
      500,
      openaiError('The server had an error while processing your request. Sorry about that!', 'server_error'),
    );
  } else {
    sendError(ex, 503, openaiError('The server is overloaded or not ready yet.', 'server_error'));
  }
  return true;
}
