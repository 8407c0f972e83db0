/**
 * The one error catalogue. Every error a client can see has a stable code here; the code
 * decides the HTTP status and the OpenAI-style error type. Handled with an exhaustive switch.
 */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'route_not_found'
  | 'method_not_allowed'
  | 'missing_api_key'
  | 'invalid_api_key'
  | 'key_revoked'
  | 'key_expired'
  | 'model_not_found'
  | 'model_not_allowed'
  | 'insufficient_permissions'
  | 'model_not_priced'
  | 'provider_not_allowed'
  | 'prompt_too_large'
  | 'rate_limited'
  | 'budget_queue_full'
  | 'budget_queue_timeout'
  | 'loop_cap_exceeded'
  | 'key_suspended'
  | 'idempotency_conflict'
  | 'idempotency_in_progress'
  | 'budget_exceeded'
  | 'upstream_error'
  | 'upstream_timeout'
  | 'upstream_rate_limited'
  | 'admin_unauthorized'
  | 'admin_disabled'
  | 'not_found'
  | 'conflict'
  | 'store_unavailable'
  | 'internal_error';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'budget_exceeded'
  | 'rate_limit_error'
  | 'api_error'
  | 'conflict_error';

export interface Denial {
  code: ErrorCode;
  message: string;
  /** The request field at fault, as OpenAI's `param`. */
  param?: string | null;
  /** Extra response headers (x-budget-exceeded, retry-after, ...). */
  headers?: Record<string, string>;
  /** Budget policy that bound the decision, for the ledger row. */
  policyId?: string;
  /** Upstream status to mirror, for upstream_* codes. */
  upstreamStatus?: number;
}

export function describe(code: ErrorCode): { status: number; type: ErrorType } {
  switch (code) {
    case 'invalid_json':
    case 'invalid_request':
    case 'model_not_priced':
    case 'prompt_too_large':
      return { status: 400, type: 'invalid_request_error' };
    case 'body_too_large':
      return { status: 413, type: 'invalid_request_error' };
    case 'unsupported_media_type':
      return { status: 415, type: 'invalid_request_error' };
    case 'route_not_found':
    case 'model_not_found':
    case 'not_found':
      return { status: 404, type: 'not_found_error' };
    case 'method_not_allowed':
      return { status: 405, type: 'invalid_request_error' };
    case 'missing_api_key':
    case 'invalid_api_key':
    case 'key_revoked':
    case 'key_expired':
    case 'admin_unauthorized':
      return { status: 401, type: 'authentication_error' };
    case 'admin_disabled':
    case 'model_not_allowed':
    case 'provider_not_allowed':
    case 'insufficient_permissions':
      return { status: 403, type: 'permission_error' };
    case 'budget_exceeded':
    case 'budget_queue_timeout':
    case 'loop_cap_exceeded':
      return { status: 429, type: 'budget_exceeded' };
    case 'budget_queue_full':
      return { status: 503, type: 'api_error' };
    case 'rate_limited':
    case 'key_suspended':
    case 'upstream_rate_limited':
      return { status: 429, type: 'rate_limit_error' };
    case 'upstream_error':
      return { status: 502, type: 'api_error' };
    case 'upstream_timeout':
      return { status: 504, type: 'api_error' };
    case 'conflict':
    case 'idempotency_conflict':
    case 'idempotency_in_progress':
      return { status: 409, type: 'conflict_error' };
    case 'store_unavailable':
      return { status: 503, type: 'api_error' };
    case 'internal_error':
      return { status: 500, type: 'api_error' };
    default:
      return assertNever(code);
  }
}

export function denial(
  code: ErrorCode,
  message: string,
  extra: Omit<Denial, 'code' | 'message'> = {},
): Denial {
  return { code, message, ...extra };
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { message: string; type: ErrorType; code: ErrorCode; param: string | null } };
}

export function toErrorResponse(d: Denial): ErrorResponse {
  const { status, type } = describe(d.code);
  return {
    status,
    headers: { 'x-tollgate-error-code': d.code, ...(d.headers ?? {}) },
    body: { error: { message: d.message, type, code: d.code, param: d.param ?? null } },
  };
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
