import type { IncomingHttpHeaders } from 'node:http';
import type { Amount, BudgetPolicy } from '../budget/types.ts';
import type { ModelEntry, ProviderEntry } from '../config/compile.ts';
import type { CallIdentity } from '../identity/types.ts';
import type { CallRecord } from '../ledger/types.ts';
import type { ModelPrices } from '../pricing/types.ts';
import type { ProviderAdapter } from '../providers/types.ts';
import type { KeyRecord } from '../store/interface.ts';

/** What the pipeline knows about one call; each phase adds its part. */
export interface CallContext {
  callId: string;
  attempt: number;
  startedAt: number;
  endpoint: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  key: KeyRecord;
  identity: CallIdentity;
  requestId: string | null;
  sessionId: string | null;
  stream: boolean;
  clientWantsUsage: boolean;
}

export interface Target {
  model: ModelEntry;
  provider: ProviderEntry;
  adapter: ProviderAdapter;
  prices: ModelPrices;
}

export interface Estimate {
  inputTokens: number;
  maxOutputTokens: number;
  worstNanos: number;
}

export interface Reservation {
  id: string;
  policies: BudgetPolicy[];
  amount: Amount;
  /** Max output tokens the request was clamped to, if it was. */
  clampedTo: number | null;
}

/** A ledger row for this call with nothing metered yet. */
export function baseRecord(ctx: CallContext, target: Target | null): CallRecord {
  const id = ctx.identity;
  return {
    callId: ctx.callId,
    attempt: ctx.attempt,
    requestId: ctx.requestId,
    sessionId: ctx.sessionId,
    tsStart: ctx.startedAt,
    tsEnd: null,
    keyId: id.keyId,
    org: id.org,
    team: id.team,
    project: id.project,
    env: id.env,
    costCenter: id.costCenter,
    user: id.user,
    feature: id.feature,
    provider: target?.provider.id ?? id.provider,
    modelRequested: id.model,
    modelUsed: target?.model.id ?? id.model,
    endpoint: ctx.endpoint,
    stream: ctx.stream,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    toolCallTokens: 0,
    usageSource: 'none',
    cost: 0,
    reserved: 0,
    reservedTokens: 0,
    status: 'pending',
    httpStatus: null,
    errorCode: null,
    denialPolicy: null,
    fallbackFrom: null,
    action: null,
    queueMs: null,
    latencyMs: null,
    ttftMs: null,
    flags: null,
    leaseUntil: null,
  };
}
