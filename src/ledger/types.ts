import type { Nanos } from '../money.ts';

export type CallStatus =
  /** Written before the upstream call; replaced by a final status after settlement. */
  | 'pending'
  | 'ok'
  | 'denied'
  | 'upstream_error'
  | 'client_aborted'
  /** Found pending after a crash: settled at its reserved amount and flagged. */
  | 'orphaned';

export type UsageSource = 'provider' | 'estimated' | 'reserved' | 'none';

/** One row per upstream attempt (DESIGN.md "The ledger row"). */
export interface CallRecord {
  callId: string;
  attempt: number;
  requestId: string | null;
  sessionId: string | null;
  tsStart: number;
  tsEnd: number | null;
  keyId: string;
  org: string;
  team: string;
  project: string;
  env: string;
  costCenter: string | null;
  user: string | null;
  feature: string | null;
  provider: string;
  modelRequested: string;
  modelUsed: string;
  endpoint: string;
  stream: boolean;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  toolCallTokens: number;
  usageSource: UsageSource;
  cost: Nanos;
  reserved: Nanos;
  /** Tokens reserved (input estimate + max output), for replaying token budgets after a crash. */
  reservedTokens: number;
  status: CallStatus;
  httpStatus: number | null;
  errorCode: string | null;
  denialPolicy: string | null;
  fallbackFrom: string | null;
  /** What the router did, comma-separated: degraded, rerouted, failover, queued, clamped, replayed. */
  action: string | null;
  /** Time spent waiting in the budget queue. */
  queueMs: number | null;
  latencyMs: number | null;
  ttftMs: number | null;
  /** Comma-separated audit flags, e.g. "orphaned_settled_at_reserved". */
  flags: string | null;
  /** Until when a pending row's process is presumed alive. */
  leaseUntil: number | null;
}

export interface CallFilter {
  from?: number;
  to?: number;
  team?: string;
  project?: string;
  env?: string;
  keyId?: string;
  model?: string;
  status?: CallStatus;
  requestId?: string;
  limit?: number;
  /** Rows older than this (ts_start, call_id) cursor, for pagination. */
  before?: number;
}

export type UsageDimension =
  | 'team'
  | 'project'
  | 'env'
  | 'key'
  | 'model'
  | 'user'
  | 'feature'
  | 'provider'
  | 'cost_center';

export interface UsageRow {
  group: string | null;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  cost: Nanos;
  denied: number;
  errors: number;
  /** Calls moved to a cheaper model, to another provider, held in the budget queue, or retried. */
  degraded: number;
  rerouted: number;
  queued: number;
  /** Total time calls spent in the budget queue. */
  queueMs: number;
  retried: number;
}
