/** What a rate limit counts against: one key, or everything of a team, project or model. */
export type RateScopeKind = 'key' | 'team' | 'project' | 'model';

export interface RateScope {
  kind: RateScopeKind;
  value: string;
}

/**
 * Per-minute limits on one scope. Separate from money budgets: budgets cap spend over
 * long windows, rate limits smooth traffic. A null limit is not enforced.
 */
export interface RateLimitRule {
  id: string;
  scope: RateScope;
  /** Requests per minute; also the burst (rpm 10 = 10 at once, then one per 6 s). */
  rpm: number | null;
  /** Tokens per minute, reserved on the estimate and corrected on settle. */
  tpm: number | null;
  /** Open calls at once. */
  concurrency: number | null;
}

export type RateUnit = 'requests' | 'tokens' | 'concurrency';

/** One per-minute bucket as the OpenAI-style headers show it. */
export interface BucketView {
  limit: number;
  /** Whole units that would fit now. */
  remaining: number;
  /** Ms until the bucket is full again (OpenAI's `x-ratelimit-reset-*`). */
  resetMs: number;
}

export interface RuleSnapshot {
  ruleId: string;
  scope: RateScope;
  requests: BucketView | null;
  tokens: BucketView | null;
  concurrency: { limit: number; open: number } | null;
}

/**
 * Why a call was refused:
 * - `exhausted`: it fits once the bucket refills (or a slot frees); `retryAfterMs` says when.
 * - `exceeds_limit`: the token estimate alone is above the rule's tpm, so it can never be
 *   admitted however long the client waits; `retryAfterMs` is null.
 */
export type DenialReason = 'exhausted' | 'exceeds_limit';

export type Acquire =
  | {
      ok: true;
      handleId: string;
      /** Every applied rule after this call's charge, for the response headers. */
      rules: RuleSnapshot[];
    }
  | {
      ok: false;
      /** The rule that binds longest (a call that can never fit binds first). */
      ruleId: string;
      scope: RateScope;
      unit: RateUnit;
      reason: DenialReason;
      retryAfterMs: number | null;
      /** The bound rule's limit in `unit`. */
      limit: number;
      /** What the call asked for in `unit` (1 request, the token estimate, 1 slot). */
      requested: number;
      /** Every applied rule, uncharged. */
      rules: RuleSnapshot[];
    };

export type RateDenial = Extract<Acquire, { ok: false }>;

/**
 * The rate limiter as the pipeline sees it. Embedded mode implements it in memory
 * (`RateLimiter`); a cluster implementation runs the same math in one Redis script.
 * Every call is decided against all its rules at once: all charged, or none.
 */
export interface RateLimits {
  /** Charges one request, `tokens` and one slot on every rule, or nothing. `id` must not be open. */
  acquire(id: string, rules: RateLimitRule[], tokens: number, nowMs: number): Acquire;
  /** Corrects the token charge to `actualTokens` and frees the slot. Idempotent; false if not open. */
  settle(id: string, actualTokens: number, nowMs: number): boolean;
  /** Frees the slot and keeps the request and token charges. Idempotent; false if not open. */
  release(id: string): boolean;
  /** Gives back the request, tokens and slot of a call that never left the gateway. Idempotent. */
  cancel(id: string, nowMs: number): boolean;
  snapshot(rule: RateLimitRule, nowMs: number): RuleSnapshot;
  /** Acquisitions not yet settled, released or cancelled, for leak checks. */
  openCount(): number;
}
