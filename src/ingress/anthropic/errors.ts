import { assertNever, type Denial, describe, type ErrorCode } from '../../errors.ts';
import type { IngressErrorResponse } from '../types.ts';
import { anthropicEvent } from './encoder.ts';

/** The error types Anthropic's API and SDK know (each SDK error class follows the HTTP status). */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Tollgate's catalogue code → Anthropic's error type. The HTTP status stays the catalogue's. */
export function anthropicErrorType(d: Denial): AnthropicErrorType {
  const code: ErrorCode = d.code;
  switch (code) {
    case 'invalid_json':
    case 'invalid_request':
    case 'model_not_priced':
    case 'unsupported_media_type':
    case 'method_not_allowed':
    case 'conflict':
    case 'prompt_too_large':
    case 'idempotency_conflict':
    case 'idempotency_in_progress':
      return 'invalid_request_error';
    case 'body_too_large':
      return 'request_too_large';
    case 'missing_api_key':
    case 'invalid_api_key':
    case 'key_revoked':
    case 'key_expired':
    case 'admin_unauthorized':
      return 'authentication_error';
    case 'model_not_allowed':
    case 'provider_not_allowed':
    case 'insufficient_permissions':
    case 'admin_disabled':
      return 'permission_error';
    case 'model_not_found':
    case 'route_not_found':
    case 'not_found':
      return 'not_found_error';
    case 'budget_exceeded':
    case 'budget_queue_timeout':
    case 'loop_cap_exceeded':
    case 'rate_limited':
    case 'key_suspended':
    case 'upstream_rate_limited':
      return 'rate_limit_error';
    case 'store_unavailable':
    case 'budget_queue_full':
      return 'overloaded_error';
    case 'upstream_error':
      // An upstream that said 529 was overloaded: the client's retry logic should know.
      return d.upstreamStatus === 529 ? 'overloaded_error' : 'api_error';
    case 'upstream_timeout':
    case 'internal_error':
      return 'api_error';
    default:
      return assertNever(code);
  }
}

function errorBody(d: Denial) {
  return { type: 'error', error: { type: anthropicErrorType(d), message: d.message } };
}

/** `{type:'error', error:{type, message}}` with the catalogue's status and Tollgate's headers (x-budget-exceeded, …). */
export function anthropicErrorResponse(d: Denial): IngressErrorResponse {
  return {
    status: describe(d.code).status,
    headers: { 'x-tollgate-error-code': d.code, ...(d.headers ?? {}) },
    body: errorBody(d),
  };
}

/** An `event: error` inside a started stream; the leading blank line ends any half-written event first. */
export function anthropicStreamError(d: Denial): string {
  return `\n\n${anthropicEvent('error', errorBody(d))}`;
}
