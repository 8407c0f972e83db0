import type { CallRecord } from '../../ledger/types.ts';
import type { Nanos } from '../../money.ts';
import { buildAllocation, type Granularity } from './allocation.ts';
import { allocationTable, focusTable } from './columns.ts';
import { encodeCsv, encodeParquet } from './encode.ts';
import { buildFocusLines } from './focus.ts';
import type { PriceLookup } from './split.ts';

/** csv / parquet: the allocation table; focus / focus-parquet: FOCUS 1.3 charge lines. */
export type ExportFormat = 'csv' | 'parquet' | 'focus' | 'focus-parquet';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'parquet', 'focus', 'focus-parquet'];

export interface ExportRequest {
  format: ExportFormat;
  by: Granularity;
  calls: AsyncIterable<CallRecord> | Iterable<CallRecord>;
  /** Splits FOCUS lines by list price and fills their unit prices; without it, by token counts. */
  prices: PriceLookup;
  /** Allocation formats only: also list $0 rows (denials, failed attempts). */
  includeUnbilled?: boolean;
}

export interface ExportFile {
  body: Buffer;
  rows: number;
  /** Sum of the file's cost column, in nanos. */
  totalNanos: Nanos;
  contentType: string;
  /** File name stem and extension: allocation|focus, csv|parquet. */
  kind: 'allocation' | 'focus';
  extension: 'csv' | 'parquet';
}

export async function buildExport(req: ExportRequest): Promise<ExportFile> {
  const parquet = req.format === 'parquet' || req.format === 'focus-parquet';
  const extension = parquet ? 'parquet' : 'csv';
  const contentType = parquet ? 'application/vnd.apache.parquet' : 'text/csv; charset=utf-8';
  if (req.format === 'csv' || req.format === 'parquet') {
    const rows = await buildAllocation(req.calls, { by: req.by, includeUnbilled: req.includeUnbilled });
    const table = allocationTable(rows, req.by);
    return {
      body: parquet ? encodeParquet(table) : encodeCsv(table),
      rows: rows.length,
      totalNanos: rows.reduce((sum, r) => sum + r.cost, 0),
      contentType,
      kind: 'allocation',
      extension,
    };
  }
  const lines = await buildFocusLines(req.calls, { by: req.by, prices: req.prices });
  const table = focusTable(lines, req.by);
  return {
    body: parquet ? encodeParquet(table) : encodeCsv(table),
    rows: lines.length,
    totalNanos: lines.reduce((sum, l) => sum + l.nanos, 0),
    contentType,
    kind: 'focus',
    extension,
  };
}
