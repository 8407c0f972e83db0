import type { CallRecord } from '../../../ledger/types.ts';
import { formatUsd } from '../../../money.ts';
import type { AuditCheck, ReconciliationItem, ReconciliationMetric } from '../types.ts';
import { plural } from '../views.ts';
import { cellKey, type ExportCell, modelKey, type ProviderExport, utcDay } from './providerExport.ts';

type Values = Record<ReconciliationMetric, number>;

const METRICS: ReconciliationMetric[] = [
  'input_tokens',
  'uncached_input_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'output_tokens',
  'requests',
  'cost_usd',
];

function zeroValues(): Values {
  return {
    input_tokens: 0,
    uncached_input_tokens: 0,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 0,
    requests: 0,
    cost_usd: 0,
  };
}

/** A ledger row in the provider's terms: OpenAI's input_tokens include cache reads and writes. */
function valuesOf(row: CallRecord): Values {
  return {
    input_tokens: row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens,
    uncached_input_tokens: row.inputTokens,
    cache_read_tokens: row.cacheReadTokens,
    cache_write_tokens: row.cacheWriteTokens,
    output_tokens: row.outputTokens,
    requests: 1,
    cost_usd: row.cost,
  };
}

function addValues(into: Values, v: Values): void {
  for (const m of METRICS) into[m] += v[m];
}

interface LedgerCell {
  model: string;
  values: Values;
}

export interface ReconcileInput {
  export: ProviderExport;
  /** Final, provider-reported rows of the providers the export is for. */
  rows: readonly CallRecord[];
  /** The model name the provider knows the row's model by (the route's upstream model). */
  upstreamModelOf: (row: CallRecord) => string;
  /** Inclusive range of UTC days (YYYY-MM-DD) the audit covers. */
  fromDay: string;
  toDay: string;
  /** Allowed |ledger - provider| as a fraction of the provider's figure. */
  tolerance: number;
}

function ledgerByDay(input: ReconcileInput): Map<string, Map<string, LedgerCell>> {
  const byDay = new Map<string, Map<string, LedgerCell>>();
  for (const row of input.rows) {
    const day = utcDay(row.tsStart);
    if (day < input.fromDay || day > input.toDay) continue;
    const model = input.upstreamModelOf(row);
    const cells = byDay.get(day) ?? new Map<string, LedgerCell>();
    byDay.set(day, cells);
    const key = modelKey(model);
    const cell = cells.get(key) ?? { model, values: zeroValues() };
    cells.set(key, cell);
    addValues(cell.values, valuesOf(row));
  }
  return byDay;
}

function mismatch(
  day: string,
  model: string,
  metric: ReconciliationMetric,
  provider: number,
  ledger: number,
  tolerance: number,
): ReconciliationItem | null {
  const diff = Math.abs(ledger - provider);
  if (diff <= tolerance * Math.abs(provider)) return null;
  const show = (n: number) => (metric === 'cost_usd' ? formatUsd(n) : n);
  return {
    kind: 'usage_mismatch',
    day,
    model,
    metric,
    provider: show(provider),
    ledger: show(ledger),
    relativeDifference: provider === 0 ? 1 : Math.round((diff / Math.abs(provider)) * 1e6) / 1e6,
  };
}

/**
 * Check 6: the ledger's provider-reported usage against the provider's own export, per UTC
 * day × model, on every metric the export reports, within `tolerance`. Only days the export has
 * a bucket for are compared; ledger usage the export does not show at all is a mismatch too.
 */
export function reconcile(input: ReconcileInput): AuditCheck<'provider_reconciliation'> {
  const exp = input.export;
  const ledger = ledgerByDay(input);
  const reported = new Set<ReconciliationMetric>();
  for (const cell of exp.cells.values()) {
    for (const m of Object.keys(cell.values) as ReconciliationMetric[]) reported.add(m);
  }
  const days = [...exp.days].filter((d) => d >= input.fromDay && d <= input.toDay).sort();
  const items: ReconciliationItem[] = [];
  let compared = 0;
  const push = (item: ReconciliationItem | null) => {
    if (item) items.push(item);
  };
  for (const day of days) {
    const ledgerCells = ledger.get(day) ?? new Map<string, LedgerCell>();
    const exportCells: ExportCell[] = [...exp.cells.values()].filter((c) => c.day === day);
    for (const cell of exportCells) {
      compared++;
      const key = modelKey(cell.model);
      let values = ledgerCells.get(key)?.values ?? zeroValues();
      if (key === '*') {
        values = zeroValues();
        for (const c of ledgerCells.values()) addValues(values, c.values);
      }
      for (const [metric, provider] of Object.entries(cell.values) as Array<[ReconciliationMetric, number]>) {
        push(mismatch(day, cell.model, metric, provider, values[metric], input.tolerance));
      }
    }
    const whole = exp.cells.get(cellKey(day, '*'));
    for (const [key, cell] of ledgerCells) {
      const own = exp.cells.get(cellKey(day, key));
      for (const metric of reported) {
        if (own?.values[metric] !== undefined || whole?.values[metric] !== undefined) continue;
        push(mismatch(day, cell.model, metric, 0, cell.values[metric], input.tolerance));
      }
    }
  }
  const uncovered = [...ledger.keys()].filter((d) => !exp.days.has(d)).sort();
  const pct = `${Math.round(input.tolerance * 10_000) / 100}%`;
  const notes =
    uncovered.length > 0 ? `; ledger days the export does not cover: ${uncovered.join(', ')}` : '';
  const named = items
    .slice(0, 5)
    .map((i) => `${i.model} on ${i.day} (${i.metric}: provider ${i.provider}, ledger ${i.ledger})`);
  return {
    name: 'provider_reconciliation',
    ok: items.length === 0,
    summary:
      items.length === 0
        ? `${exp.vendor} export: ${plural(compared, 'day × model cell')} over ${plural(days.length, 'day')} ${compared === 1 ? 'agrees' : 'agree'} with the ledger within ${pct}${notes}`
        : `${exp.vendor} export disagrees with the ledger beyond ${pct} in ${plural(items.length, 'place')}: ${named.join('; ')}${items.length > 5 ? '; …' : ''}${notes}`,
    items,
  };
}
