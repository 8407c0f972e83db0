import type { Acquire, BucketView, RateDenial, RuleSnapshot } from './types.ts';

/**
 * A duration as OpenAI writes it in `x-ratelimit-reset-*` (Go's time.Duration format at
 * millisecond resolution): `0s`, `120ms`, `1s`, `6.5s`, `6m0s`, `1h2m3s`.
 */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = formatSeconds(total % 60_000);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function formatSeconds(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const frac = ms % 1000;
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}`;
}

/** The bucket with the least left; on a tie, the one that takes longer to refill. */
function tightest(views: (BucketView | null)[]): BucketView | null {
  let best: BucketView | null = null;
  for (const v of views) {
    if (v === null) continue;
    if (
      best === null ||
      v.remaining < best.remaining ||
      (v.remaining === best.remaining && v.resetMs > best.resetMs)
    ) {
      best = v;
    }
  }
  return best;
}

/**
 * OpenAI-style `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the rules a call
 * ran under. When several rules limit the same unit, the most restrictive one is reported.
 * A unit no rule limits gets no headers.
 */
export function rateLimitHeaders(rules: RuleSnapshot[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const units = [
    ['requests', tightest(rules.map((r) => r.requests))],
    ['tokens', tightest(rules.map((r) => r.tokens))],
  ] as const;
  for (const [unit, v] of units) {
    if (v === null) continue;
    headers[`x-ratelimit-limit-${unit}`] = String(v.limit);
    headers[`x-ratelimit-remaining-${unit}`] = String(v.remaining);
    headers[`x-ratelimit-reset-${unit}`] = formatResetDuration(v.resetMs);
  }
  return headers;
}

/**
 * Headers for a refused call: the rate-limit state, the rule that bound
 * (`x-ratelimit-exceeded`, like `x-budget-exceeded`), and `retry-after` (whole seconds,
 * at least 1) with `retry-after-ms`, which the OpenAI SDKs honour. A call that can never fit
 * gets no retry-after: waiting does not help.
 */
export function rateLimitDenialHeaders(d: RateDenial): Record<string, string> {
  const headers = rateLimitHeaders(d.rules);
  headers['x-ratelimit-exceeded'] = d.ruleId;
  if (d.retryAfterMs !== null) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(d.retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(Math.max(0, Math.ceil(d.retryAfterMs)));
  }
  return headers;
}

const UNIT_TEXT = {
  requests: 'requests per minute',
  tokens: 'tokens per minute',
  concurrency: 'concurrent requests',
} as const;

/** The client-facing message of a refusal, naming the rule, the unit and the limit. */
export function rateLimitMessage(d: RateDenial): string {
  const rule = `rate limit ${d.ruleId} (${d.scope.kind} ${d.scope.value})`;
  if (d.reason === 'exceeds_limit') {
    return (
      `This request needs an estimated ${d.requested} tokens, more than ${rule} allows per minute ` +
      `(${d.limit}); it can never be admitted. Lower max_tokens or shorten the input.`
    );
  }
  const wait = d.retryAfterMs === null ? '' : ` Retry after ${formatResetDuration(d.retryAfterMs)}.`;
  return `Rate limit reached: ${rule} on ${UNIT_TEXT[d.unit]}, limit ${d.limit}.${wait}`;
}

/** Everything the pipeline needs to turn an acquisition into response headers or a 429. */
export function describeAcquire(
  a: Acquire,
):
  | { ok: true; headers: Record<string, string> }
  | { ok: false; message: string; headers: Record<string, string>; ruleId: string } {
  if (a.ok) return { ok: true, headers: rateLimitHeaders(a.rules) };
  return { ok: false, message: rateLimitMessage(a), headers: rateLimitDenialHeaders(a), ruleId: a.ruleId };
}
