import type { CallRecord } from '../../ledger/types.ts';
import type { Nanos } from '../../money.ts';
import { startOfDay } from './range.ts';

/**
 * The allocation table: billed ledger rows grouped per request (default), per call or per day.
 * Sums are integers all the way (nanos, tokens), so the table adds up to the ledger exactly.
 */

/** request: one row per request id (a call without one is its own request); call: one per attempt; day: per identity × feature × model × provider. */
export type Granularity = 'request' | 'call' | 'day';
export const GRANULARITIES: readonly Granularity[] = ['request', 'call', 'day'];

export interface AllocationRow {
  /** Midnight UTC of the row's day (the UTC day of ts_start). */
  dayMs: number;
  org: string;
  team: string;
  costCenter: string | null;
  project: string;
  env: string;
  /** Several distinct values of one request are listed comma-separated, sorted. */
  feature: string | null;
  model: string;
  provider: string;
  /** by request: the request id, or the call id of a call sent without one. by call: the call's own request id. */
  requestId: string | null;
  callId: string | null;
  attempt: number | null;
  tsStart: number | null;
  status: string | null;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  toolCallTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  cost: Nanos;
}

export interface AllocationOptions {
  by: Granularity;
  /**
   * Also count rows that billed nothing ($0, no tokens: budget denials, refused or failed attempts).
   * Off by default: the table is what was billed.
   */
  includeUnbilled?: boolean;
}

/** A final row that billed money or tokens; pending rows are in flight and never count. */
export function isBilled(r: CallRecord): boolean {
  if (r.status === 'pending') return false;
  return (
    r.cost > 0 ||
    r.inputTokens > 0 ||
    r.outputTokens > 0 ||
    r.cacheReadTokens > 0 ||
    r.cacheWriteTokens > 0 ||
    r.reasoningTokens > 0 ||
    r.toolCallTokens > 0
  );
}

export function counts(r: CallRecord, opts: { includeUnbilled?: boolean }): boolean {
  return r.status !== 'pending' && (isBilled(r) || opts.includeUnbilled === true);
}

interface Group {
  row: AllocationRow;
  features: Set<string | null>;
  models: Set<string>;
  providers: Set<string>;
}

/** Groups the rows a source yields; the result is sorted for stable files. */
export async function buildAllocation(
  calls: AsyncIterable<CallRecord> | Iterable<CallRecord>,
  opts: AllocationOptions,
): Promise<AllocationRow[]> {
  const groups = new Map<string, Group>();
  for await (const r of calls) {
    if (!counts(r, opts)) continue;
    const key = groupKey(r, opts.by);
    let g = groups.get(key);
    if (!g) {
      g = { row: emptyRow(r, opts.by), features: new Set(), models: new Set(), providers: new Set() };
      groups.set(key, g);
    }
    g.features.add(r.feature);
    g.models.add(r.modelUsed);
    g.providers.add(r.provider);
    add(g.row, r);
  }
  const rows = [...groups.values()].map((g) => ({
    ...g.row,
    feature: joined(g.features),
    model: joined(g.models) ?? '',
    provider: joined(g.providers) ?? '',
  }));
  return rows.sort(compareRows);
}

function groupKey(r: CallRecord, by: Granularity): string {
  const day = startOfDay(r.tsStart);
  const who = [r.org, r.team, r.project, r.env, r.costCenter ?? ''];
  switch (by) {
    case 'call':
      return JSON.stringify([r.callId, r.attempt]);
    case 'request':
      return JSON.stringify([day, ...who, r.requestId ?? r.callId]);
    case 'day':
      return JSON.stringify([day, ...who, r.feature ?? '', r.feature === null, r.modelUsed, r.provider]);
  }
}

function emptyRow(r: CallRecord, by: Granularity): AllocationRow {
  const perCall = by === 'call';
  return {
    dayMs: startOfDay(r.tsStart),
    org: r.org,
    team: r.team,
    costCenter: r.costCenter,
    project: r.project,
    env: r.env,
    feature: r.feature,
    model: r.modelUsed,
    provider: r.provider,
    requestId: by === 'request' ? (r.requestId ?? r.callId) : perCall ? r.requestId : null,
    callId: perCall ? r.callId : null,
    attempt: perCall ? r.attempt : null,
    tsStart: perCall ? r.tsStart : null,
    status: perCall ? r.status : null,
    calls: 0,
    inputTokens: 0,
    outputTokens: 0,
    toolCallTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    cost: 0,
  };
}

function add(row: AllocationRow, r: CallRecord): void {
  row.calls += 1;
  row.inputTokens += r.inputTokens;
  row.outputTokens += r.outputTokens;
  row.toolCallTokens += r.toolCallTokens;
  row.cacheReadTokens += r.cacheReadTokens;
  row.cacheWriteTokens += r.cacheWriteTokens;
  row.reasoningTokens += r.reasoningTokens;
  row.cost += r.cost;
}

/** One value as itself; several (a request that changed model or feature) sorted and comma-joined. */
function joined(values: Set<string | null>): string | null {
  if (values.size === 1) return [...values][0] ?? null;
  return [...values]
    .map((v) => v ?? '-')
    .sort()
    .join(',');
}

function compareRows(a: AllocationRow, b: AllocationRow): number {
  return (
    a.dayMs - b.dayMs ||
    cmp(a.org, b.org) ||
    cmp(a.team, b.team) ||
    cmp(a.project, b.project) ||
    cmp(a.env, b.env) ||
    cmp(a.costCenter ?? '', b.costCenter ?? '') ||
    cmp(a.feature ?? '', b.feature ?? '') ||
    cmp(a.model, b.model) ||
    cmp(a.provider, b.provider) ||
    (a.tsStart ?? 0) - (b.tsStart ?? 0) ||
    cmp(a.requestId ?? '', b.requestId ?? '') ||
    cmp(a.callId ?? '', b.callId ?? '') ||
    (a.attempt ?? 0) - (b.attempt ?? 0)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
