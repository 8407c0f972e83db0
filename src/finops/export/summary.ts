import type { CallRecord } from '../../ledger/types.ts';
import type { Nanos } from '../../money.ts';
import { counts } from './allocation.ts';
import { col, type Table } from './table.ts';

/** Spend of one team under one cost center over a period (the weekly summary's row). */
export interface CostCenterRow {
  costCenter: string | null;
  team: string;
  cost: Nanos;
  calls: number;
  /** Every billed token: input + output + cache read + cache write (reasoning is inside output). */
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

export async function buildCostCenterSummary(
  calls: AsyncIterable<CallRecord> | Iterable<CallRecord>,
): Promise<CostCenterRow[]> {
  const rows = new Map<string, CostCenterRow>();
  for await (const r of calls) {
    if (!counts(r, {})) continue;
    const key = JSON.stringify([r.costCenter, r.team]);
    let row = rows.get(key);
    if (!row) {
      row = {
        costCenter: r.costCenter,
        team: r.team,
        cost: 0,
        calls: 0,
        tokens: 0,
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
      };
      rows.set(key, row);
    }
    row.cost += r.cost;
    row.calls += 1;
    row.tokens += r.inputTokens + r.outputTokens + r.cacheReadTokens + r.cacheWriteTokens;
    row.inputTokens += r.inputTokens;
    row.outputTokens += r.outputTokens;
    row.cacheReadTokens += r.cacheReadTokens;
    row.cacheWriteTokens += r.cacheWriteTokens;
    row.reasoningTokens += r.reasoningTokens;
  }
  const key = (r: CostCenterRow) => `${r.costCenter ?? '\uffff'}\u0000${r.team}`;
  return [...rows.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export function costCenterTable(
  rows: readonly CostCenterRow[],
  week: { label: string; startMs: number },
): Table<CostCenterRow> {
  return {
    rows,
    columns: [
      col.string('week', () => week.label),
      col.date('week_start', () => week.startMs),
      col.string('cost_center', (r) => r.costCenter),
      col.string('team', (r) => r.team),
      col.usd('usd', (r) => r.cost),
      col.int('cost_nanos', (r) => r.cost),
      col.int('calls', (r) => r.calls),
      col.int('tokens', (r) => r.tokens),
      col.int('input_tokens', (r) => r.inputTokens),
      col.int('output_tokens', (r) => r.outputTokens),
      col.int('cache_read_tokens', (r) => r.cacheReadTokens),
      col.int('cache_write_tokens', (r) => r.cacheWriteTokens),
      col.int('reasoning_tokens', (r) => r.reasoningTokens),
    ],
  };
}
