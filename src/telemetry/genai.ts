import type { Attributes } from '@opentelemetry/api';
import type { CallRecord } from '../ledger/types.ts';
import { formatUsd } from '../money.ts';

/**
 * OpenTelemetry GenAI semantic conventions (v1.41, the names in
 * @opentelemetry/semantic-conventions/incubating), spelled out here because those constants are
 * deprecated there in favour of the separate GenAI conventions package.
 */
export const GEN_AI = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  reasoningOutputTokens: 'gen_ai.usage.reasoning.output_tokens',
  timeToFirstChunk: 'gen_ai.response.time_to_first_chunk',
  tokenType: 'gen_ai.token.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
} as const;

/** Histogram boundaries the conventions ask for. */
export const TOKEN_USAGE_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
export const OPERATION_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/** `gen_ai.operation.name` of a client-facing endpoint: embeddings, or a chat turn. */
export function operationName(endpoint: string): 'chat' | 'embeddings' {
  return endpoint === '/v1/embeddings' ? 'embeddings' : 'chat';
}

/** `gen_ai.provider.name` by adapter kind (config `providers.<id>.kind`). */
const PROVIDER_NAME: Record<string, string> = {
  openai: 'openai',
  'openai-compatible': 'openai',
  azure: 'azure.ai.openai',
  anthropic: 'anthropic',
  bedrock: 'aws.bedrock',
  gemini: 'gcp.gemini',
};

export function providerName(kind: string): string {
  return PROVIDER_NAME[kind] ?? kind;
}

export interface ServerEndpoint {
  address: string;
  port: number;
}

/** `server.address` / `server.port` of a provider base URL (the port made explicit, as the conventions want). */
export function serverEndpoint(baseUrl: string): ServerEndpoint | null {
  try {
    const url = new URL(baseUrl);
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return { address: url.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return null;
  }
}

const BUDGET_ACTIONS = new Set(['clamped', 'degraded', 'rerouted', 'queued']);

/**
 * What the budget phase decided for this attempt: `ok`, the budget actions it took
 * (`clamped`, `degraded`, `rerouted`, `queued`, comma-joined when several), or
 * `denied:<policy>` (`denied:<error code>` when no policy bound the denial).
 */
export function budgetDecision(row: CallRecord): string {
  if (row.status === 'denied') return `denied:${row.denialPolicy ?? row.errorCode ?? 'unknown'}`;
  if (!row.action) return 'ok';
  const taken = row.action.split(',').filter((a) => BUDGET_ACTIONS.has(a));
  return taken.length > 0 ? taken.join(',') : 'ok';
}

/** Whether the row carries token counts (provider-reported or estimated), as opposed to none. */
export function hasUsage(row: CallRecord): boolean {
  return row.usageSource !== 'none';
}

/**
 * `gen_ai.usage.input_tokens` includes cache reads and writes (the conventions say it SHOULD);
 * the ledger keeps them apart because they are priced apart.
 */
export function genAiInputTokens(row: CallRecord): number {
  return row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens;
}

/** The `tollgate.*` attributes of an attempt: who it is billed to and what it cost. */
export function tollgateAttributes(row: CallRecord): Attributes {
  const a: Attributes = {
    'tollgate.call_id': row.callId,
    'tollgate.attempt': row.attempt,
    'tollgate.key_id': row.keyId,
    'tollgate.team': row.team,
    'tollgate.project': row.project,
    'tollgate.env': row.env,
    'tollgate.provider': row.provider,
    'tollgate.model': row.modelUsed,
    'tollgate.model_requested': row.modelRequested,
    'tollgate.endpoint': row.endpoint,
    'tollgate.stream': row.stream,
    'tollgate.reserved_usd': formatUsd(row.reserved),
    'tollgate.cost_usd': formatUsd(row.cost),
    'tollgate.budget_decision': budgetDecision(row),
    'tollgate.usage_source': row.usageSource,
    'tollgate.status': row.status,
  };
  if (row.feature !== null) a['tollgate.feature'] = row.feature;
  if (row.costCenter !== null) a['tollgate.cost_center'] = row.costCenter;
  if (row.requestId !== null) a['tollgate.request_id'] = row.requestId;
  if (row.action !== null) a['tollgate.route'] = row.action;
  return a;
}

/** The GenAI usage attributes of a settled attempt; empty when it produced no usage. */
export function usageAttributes(row: CallRecord): Attributes {
  if (!hasUsage(row)) return {};
  return {
    [GEN_AI.inputTokens]: genAiInputTokens(row),
    [GEN_AI.outputTokens]: row.outputTokens,
    [GEN_AI.cacheReadInputTokens]: row.cacheReadTokens,
    [GEN_AI.cacheCreationInputTokens]: row.cacheWriteTokens,
    [GEN_AI.reasoningOutputTokens]: row.reasoningTokens,
  };
}

/**
 * `gen_ai.response.finish_reasons`: the provider's own reasons, one per choice (the conventions
 * want them as the provider reports them); absent when the provider said none.
 */
export function finishReasonAttributes(reasons: readonly string[] | undefined): Attributes {
  return reasons && reasons.length > 0 ? { [GEN_AI.finishReasons]: [...reasons] } : {};
}

/** `error.type` of a final row that did not succeed; null for a success. */
export function errorType(row: CallRecord): string | null {
  if (row.status === 'ok') return null;
  return row.errorCode ?? row.status;
}
