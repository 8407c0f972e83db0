import type { CallRecord, CallStatus } from '../ledger/types.ts';
import type { LedgerStore } from '../store/interface.ts';

export interface SyntheticOptions {
  rows: number;
  /** Rows are spread evenly over [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  teams: ReadonlyArray<{ team: string; project: string; org: string }>;
  batch?: number;
}

const MODELS = ['gpt-4.1-mini', 'gpt-4.1', 'gpt-4o-mini'];
const FEATURES = ['search', 'autocomplete', 'chat', 'triage', 'ads-copy', null];
const ENVS = ['prod', 'prod', 'prod', 'dev'];

/** Deterministic pseudo-random, so two seedings of the same size hold the same ledger. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Writes `rows` settled ledger rows through the store's own batch writer, for measuring the
 * dashboard against a large ledger. Returns the total cost written (nanos) for checking sums.
 */
export async function seedSyntheticLedger(ledger: LedgerStore, opts: SyntheticOptions): Promise<number> {
  const rand = lcg(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const span = opts.toMs - opts.fromMs;
  const batchSize = opts.batch ?? 20_000;
  let total = 0;
  for (let start = 0; start < opts.rows; start += batchSize) {
    const batch: CallRecord[] = [];
    for (let i = start; i < Math.min(start + batchSize, opts.rows); i++) {
      const who = pick(opts.teams);
      const ts = opts.fromMs + Math.floor((i / opts.rows) * span);
      const r = rand();
      const status: CallStatus = r < 0.02 ? 'denied' : r < 0.04 ? 'upstream_error' : 'ok';
      const inputTokens = status === 'ok' ? 50 + Math.floor(rand() * 2000) : 0;
      const outputTokens = status === 'ok' ? 10 + Math.floor(rand() * 800) : 0;
      const cost = status === 'ok' ? inputTokens * 400 + outputTokens * 1600 : 0;
      total += cost;
      const model = pick(MODELS);
      batch.push({
        callId: `syn_${i}`,
        attempt: 1,
        requestId: i % 7 === 0 ? `req_${Math.floor(i / 7)}` : null,
        sessionId: null,
        tsStart: ts,
        tsEnd: ts + 300,
        keyId: `key_syn_${who.team}`,
        org: who.org,
        team: who.team,
        project: who.project,
        env: pick(ENVS),
        costCenter: null,
        user: null,
        feature: pick(FEATURES),
        provider: 'mock',
        modelRequested: model,
        modelUsed: model,
        endpoint: 'chat.completions',
        stream: false,
        inputTokens,
        outputTokens,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        toolCallTokens: 0,
        usageSource: status === 'ok' ? 'provider' : 'none',
        cost,
        reserved: cost * 2,
        reservedTokens: inputTokens + 1000,
        status,
        httpStatus: status === 'ok' ? 200 : status === 'denied' ? 429 : 502,
        errorCode: status === 'ok' ? null : status === 'denied' ? 'budget_exceeded' : 'upstream_error',
        denialPolicy: null,
        fallbackFrom: null,
        action: r > 0.97 ? 'degraded' : null,
        queueMs: null,
        latencyMs: 100 + Math.floor(rand() * 900),
        ttftMs: null,
        flags: null,
        leaseUntil: null,
      });
    }
    await ledger.writeBatch(batch);
  }
  return total;
}
