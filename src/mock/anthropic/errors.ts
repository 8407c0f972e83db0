import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { type Exchange, pause } from '../exchange.ts';

/** Anthropic's error types, as they appear in `error.type`. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Anthropic's error envelope, field order included. */
export function anthropicErrorBody(type: AnthropicErrorType, message: string, requestId: string) {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

/** An id in Anthropic's `req_011C…` style, also sent as the `request-id` header. */
export function anthropicRequestId(): string {
  return `req_011C${randomUUID().replaceAll('-', '').slice(0, 22)}`;
}

/*
 * Static values a real Anthropic response carries; the rate-limit headers never look exhausted.
 */
const ANTHROPIC_HEADERS: OutgoingHttpHeaders = {
  'anthropic-organization-id': '00000000-0000-4000-8000-00000000a11c',
  'anthropic-ratelimit-requests-limit': '4000',
  'anthropic-ratelimit-requests-remaining': '3999',
  'anthropic-ratelimit-input-tokens-limit': '2000000',
  'anthropic-ratelimit-input-tokens-remaining': '1999000',
  'anthropic-ratelimit-output-tokens-limit': '400000',
  'anthropic-ratelimit-output-tokens-remaining': '399000',
  via: '1.1 google',
};

export function anthropicHeaders(
  requestId: string,
  contentType: string,
  extra?: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  return { 'content-type': contentType, 'request-id': requestId, ...ANTHROPIC_HEADERS, ...extra };
}

export function sendAnthropicError(
  ex: Exchange,
  requestId: string,
  status: number,
  type: AnthropicErrorType,
  message: string,
  extra?: OutgoingHttpHeaders,
): void {
  if (ex.closed) return;
  const text = JSON.stringify(anthropicErrorBody(type, message, requestId));
  ex.res.writeHead(status, anthropicHeaders(requestId, 'application/json', extra));
  ex.res.end(text);
}

/**
 * The status faults, answered after the configured latency; false when the fault is not one.
 * Anthropic has no 503: an overloaded API answers 529 `overloaded_error`, so `503` plays that too.
 */
export async function sendAnthropicStatusFault(ex: Exchange, requestId: string): Promise<boolean> {
  const fault = ex.knobs.fault;
  if (fault !== '429' && fault !== '500' && fault !== '503' && fault !== '529') return false;
  if (!(await pause(ex, ex.knobs.latencyMs))) return true;
  if (fault === '429') {
    const seconds = ex.knobs.retryAfterSeconds;
    sendAnthropicError(
      ex,
      requestId,
      429,
      'rate_limit_error',
      'This request would exceed the rate limit for your organization (00000000-0000-4000-8000-00000000a11c) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.',
      { 'retry-after': String(seconds), 'anthropic-ratelimit-requests-remaining': '0' },
    );
  } else if (fault === '500') {
    sendAnthropicError(ex, requestId, 500, 'api_error', 'Internal server error');
  } else {
    sendAnthropicError(ex, requestId, 529, 'overloaded_error', 'Overloaded');
  }
  return true;
}
