import type { Harness } from './harness.ts';

/**
 * A reusable mixed workload for end-to-end tests of everything that reads the ledger (exports,
 * audit, metrics). Use it in three steps:
 *
 *   const h = await startHarness({ config: workloadConfig(), clock: dayClock(Date.UTC(2026, 10, 22)) });
 *   const w = await seedWorkload(h);   // ~20 calls through the real server, ledger settled on return
 *   ... compare what you read against the ledger (h.dbFile, h.gateway.services.store.ledger)
 *
 * What it sends (all through the official openai client, so the real HTTP path is exercised):
 * - 3 teams with their own cost centers: search (CC-1, project ranker), support (CC-2, project bot),
 *   growth (CC-3, project ads); 2 envs (prod, dev); 5 keys;
 * - several features (x-tollgate-feature) and request ids (x-tollgate-request-id) shared by
 *   multi-step requests, plus calls without a request id;
 * - streaming and non-streaming calls, cache-read and reasoning tokens (mock knobs);
 * - upstream failures: a 500 on every attempt ($0 rows), a stream cut mid-way and a stream
 *   without usage (both billed on estimated tokens);
 * - budget denials: growth/dev may make 2 requests (`growth-dev-requests`), its next ones are 429s.
 */

export const WORKLOAD_ORGS = [
  {
    id: 'acme',
    teams: [
      { id: 'search', cost_center: 'CC-1', projects: [{ id: 'ranker' }] },
      { id: 'support', cost_center: 'CC-2', projects: [{ id: 'bot' }] },
      { id: 'growth', cost_center: 'CC-3', projects: [{ id: 'ads' }] },
    ],
  },
];

export const WORKLOAD_BUDGETS = [
  {
    id: 'growth-dev-requests',
    match: { team: 'growth', env: 'dev' },
    limit: { requests: 2 },
    window: { kind: 'calendar', every: 'month', tz: 'UTC' },
  },
  { id: 'acme-monthly', match: { org: 'acme' }, limit: { usd: 100 } },
];

/** The config fragment the workload needs; spread your own fields over it. */
export function workloadConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { orgs: WORKLOAD_ORGS, budgets: WORKLOAD_BUDGETS, ...extra };
}

/**
 * A gateway clock that starts at `hourUtc` on the UTC day `dayMs` and then runs in real time,
 * so every call's ts_start falls on that day (pass it as startHarness's `clock`).
 */
export function dayClock(dayMs: number, hourUtc = 12): () => number {
  const startedAt = Date.now();
  return () => dayMs + hourUtc * 3_600_000 + (Date.now() - startedAt);
}

export type WorkloadKey = 'searchProd' | 'searchDev' | 'supportProd' | 'growthProd' | 'growthDev';

export interface WorkloadCall {
  key: WorkloadKey;
  model: string;
  feature?: string;
  requestId?: string;
  stream?: boolean;
  /** Extra request headers, e.g. x-mock-fault, x-mock-cached-tokens. */
  headers?: Record<string, string>;
  maxTokens?: number;
}

export type CallOutcome = 'ok' | 'failed' | 'denied';

export interface Workload {
  keys: Record<WorkloadKey, { id: string; secret: string }>;
  /** What was sent and how each call ended for the client, in order. */
  sent: Array<WorkloadCall & { outcome: CallOutcome; status: number | null }>;
  /** Every request id sent (calls without one are not listed). */
  requestIds: string[];
}

const KEY_BINDINGS: Record<WorkloadKey, { team: string; project: string; env: string }> = {
  searchProd: { team: 'search', project: 'ranker', env: 'prod' },
  searchDev: { team: 'search', project: 'ranker', env: 'dev' },
  supportProd: { team: 'support', project: 'bot', env: 'prod' },
  growthProd: { team: 'growth', project: 'ads', env: 'prod' },
  growthDev: { team: 'growth', project: 'ads', env: 'dev' },
};

/** The default mix; pass your own list to seedWorkload for a different one. */
export const WORKLOAD_CALLS: readonly WorkloadCall[] = [
  { key: 'searchProd', model: 'gpt-4.1-mini', feature: 'search', requestId: 'req-search-1' },
  { key: 'searchProd', model: 'gpt-4.1-mini', feature: 'search', requestId: 'req-search-1', stream: true },
  {
    key: 'searchProd',
    model: 'gpt-4.1',
    feature: 'autocomplete',
    requestId: 'req-search-2',
    headers: { 'x-mock-cached-tokens': '6' },
  },
  { key: 'searchDev', model: 'gpt-4o-mini', feature: 'search', stream: true },
  { key: 'searchDev', model: 'gpt-4o-mini', feature: 'autocomplete' },
  {
    key: 'searchProd',
    model: 'gpt-4.1-mini',
    feature: 'autocomplete',
    requestId: 'req-search-3',
    headers: { 'x-mock-fault': '500' },
  },
  {
    key: 'supportProd',
    model: 'gpt-4.1-mini',
    feature: 'chat',
    requestId: 'req-support-1',
    headers: { 'x-mock-reasoning-tokens': '5' },
  },
  { key: 'supportProd', model: 'gpt-4.1-mini', feature: 'chat', requestId: 'req-support-1', stream: true },
  { key: 'supportProd', model: 'gpt-4.1-mini', feature: 'chat', requestId: 'req-support-1' },
  {
    key: 'supportProd',
    model: 'gpt-4.1-mini',
    feature: 'triage',
    requestId: 'req-support-2',
    stream: true,
    headers: { 'x-mock-fault': 'cut' },
  },
  {
    key: 'supportProd',
    model: 'gpt-4.1-mini',
    feature: 'triage',
    requestId: 'req-support-3',
    stream: true,
    headers: { 'x-mock-fault': 'no-usage' },
  },
  { key: 'supportProd', model: 'gpt-4o-mini' },
  {
    key: 'growthProd',
    model: 'custom-priced',
    feature: 'ads-copy',
    requestId: 'req-growth-1',
    headers: { 'x-mock-cached-tokens': '4' },
  },
  { key: 'growthProd', model: 'gpt-4.1-mini', feature: 'ads-copy', requestId: 'req-growth-1', stream: true },
  { key: 'growthProd', model: 'gpt-4.1', feature: 'ads-review', requestId: 'req-growth-2' },
  { key: 'growthDev', model: 'gpt-4.1-mini', feature: 'ads-copy', requestId: 'req-growth-dev-1' },
  {
    key: 'growthDev',
    model: 'gpt-4.1-mini',
    feature: 'ads-copy',
    requestId: 'req-growth-dev-1',
    stream: true,
  },
  { key: 'growthDev', model: 'gpt-4.1-mini', feature: 'ads-copy', requestId: 'req-growth-dev-2' },
  {
    key: 'growthDev',
    model: 'gpt-4.1-mini',
    feature: 'ads-copy',
    requestId: 'req-growth-dev-3',
    stream: true,
  },
];

/** Creates the keys, sends the calls one after another, and returns once every ledger row is final. */
export async function seedWorkload(
  h: Harness,
  calls: readonly WorkloadCall[] = WORKLOAD_CALLS,
): Promise<Workload> {
  const keys = {} as Record<WorkloadKey, { id: string; secret: string }>;
  for (const [name, binding] of Object.entries(KEY_BINDINGS) as Array<
    [WorkloadKey, (typeof KEY_BINDINGS)[WorkloadKey]]
  >) {
    keys[name] = await h.createKey({ ...binding, name });
  }
  const sent: Workload['sent'] = [];
  for (const c of calls) {
    const result = await send(h, keys[c.key].secret, c);
    sent.push({ ...c, ...result });
  }
  await settleLedger(h);
  const requestIds = [...new Set(calls.flatMap((c) => (c.requestId ? [c.requestId] : [])))];
  return { keys, sent, requestIds };
}

async function send(
  h: Harness,
  secret: string,
  c: WorkloadCall,
): Promise<{ outcome: CallOutcome; status: number | null }> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.feature) headers['x-tollgate-feature'] = c.feature;
  if (c.requestId) headers['x-tollgate-request-id'] = c.requestId;
  const body = {
    model: c.model,
    messages: [{ role: 'user' as const, content: `workload call for ${c.feature ?? 'no feature'}` }],
    max_tokens: c.maxTokens ?? 40,
  };
  try {
    const client = h.openai(secret);
    if (c.stream) {
      const stream = await client.chat.completions.create(
        { ...body, stream: true, stream_options: { include_usage: true } },
        { headers },
      );
      for await (const _chunk of stream) {
        // drain
      }
    } else {
      await client.chat.completions.create(body, { headers });
    }
    return { outcome: 'ok', status: 200 };
  } catch (err) {
    const status = (err as { status?: number }).status ?? null;
    const code = (err as { code?: string | null }).code;
    return { outcome: code === 'budget_exceeded' ? 'denied' : 'failed', status };
  }
}

/** Flushes the ledger writer until no row is pending (streams settle just after the client's last byte). */
export async function settleLedger(h: Harness, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await h.gateway.services.ledger.flush();
    const pending = await h.gateway.services.store.ledger.pendingRows();
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${pending.length} ledger rows still pending`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
