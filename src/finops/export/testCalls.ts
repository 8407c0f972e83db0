import type { CallRecord } from '../../ledger/types.ts';
import type { ModelPrices } from '../../pricing/types.ts';

/** Test fixtures shared by the export unit tests (not imported by production code). */

/** 2026-11-22 (a Sunday) 12:00 UTC. */
export const NOON = Date.UTC(2026, 10, 22, 12);

let seq = 0;

export function call(overrides: Partial<CallRecord> = {}): CallRecord {
  seq += 1;
  return {
    callId: `call_${String(seq).padStart(4, '0')}`,
    attempt: 1,
    requestId: null,
    sessionId: null,
    tsStart: NOON,
    tsEnd: NOON + 100,
    keyId: 'key-1',
    org: 'acme',
    team: 'search',
    project: 'ranker',
    env: 'prod',
    costCenter: 'CC-1',
    user: null,
    feature: null,
    provider: 'openai',
    modelRequested: 'gpt-4.1-mini',
    modelUsed: 'gpt-4.1-mini',
    endpoint: '/v1/chat/completions',
    stream: false,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    toolCallTokens: 0,
    usageSource: 'provider',
    cost: 0,
    reserved: 0,
    reservedTokens: 0,
    status: 'ok',
    httpStatus: 200,
    errorCode: null,
    denialPolicy: null,
    fallbackFrom: null,
    action: null,
    queueMs: null,
    latencyMs: 100,
    ttftMs: null,
    flags: null,
    leaseUntil: null,
    ...overrides,
  };
}

/** $0.40 / $1.60 per million, cache read $0.10, cache write $0.50, reasoning as output (pico per token). */
export const MINI_PRICES: ModelPrices = {
  input: 400_000,
  output: 1_600_000,
  cacheRead: 100_000,
  cacheWrite: 500_000,
  reasoning: 1_600_000,
};
