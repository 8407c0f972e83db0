import { stringify } from 'csv-stringify/sync';
import type { SchemaElement } from 'hyparquet';
import { type ColumnSource, parquetWriteBuffer } from 'hyparquet-writer';
import { formatUsd } from '../../money.ts';
import { isoSeconds } from './range.ts';
import type { Cell, CellType, Column, Table } from './table.ts';

/** CSV with a header row; empty cells are nulls. Numbers are written exactly, never through floats. */
export function encodeCsv<R>(table: Table<R>): Buffer {
  const header = table.columns.map((c) => c.name);
  const body = table.rows.map((row) => table.columns.map((c) => csvCell(c.type, c.get(row))));
  return Buffer.from(stringify([header, ...body]));
}

function csvCell(type: CellType, v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  switch (type) {
    case 'date':
      return new Date(v).toISOString().slice(0, 10);
    case 'timestamp':
      return isoSeconds(v);
    case 'usd':
      return formatUsd(v);
    case 'unit_price':
      return formatScaled(BigInt(v), 12);
    case 'int':
    case 'quantity':
    case 'string':
    case 'json':
      return String(v);
  }
}

/** Decimal places of each scaled Parquet DECIMAL, stored as INT64 (18 digits). */
const SCALE: Partial<Record<CellType, number>> = { usd: 9, quantity: 0, unit_price: 12 };

/** Parquet (snappy) with an explicit schema, so an empty table still has typed columns. */
export function encodeParquet<R>(table: Table<R>): Buffer {
  const schema: SchemaElement[] = [{ name: 'root', num_children: table.columns.length }];
  const columnData: ColumnSource[] = [];
  for (const c of table.columns) {
    schema.push({ name: c.name, repetition_type: 'OPTIONAL', ...schemaOf(c.type) });
    columnData.push({ name: c.name, data: table.rows.map((row) => parquetValue(c, row)) });
  }
  return Buffer.from(parquetWriteBuffer({ columnData, schema, createdBy: 'tollgate' }));
}

function schemaOf(type: CellType): Omit<SchemaElement, 'name'> {
  const scale = SCALE[type];
  if (scale !== undefined) {
    return { type: 'INT64', converted_type: 'DECIMAL', scale, precision: 18 };
  }
  switch (type) {
    case 'string':
    case 'json':
      return { type: 'BYTE_ARRAY', converted_type: 'UTF8' };
    case 'date':
      return { type: 'INT32', converted_type: 'DATE' };
    case 'timestamp':
      return {
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
      };
    default:
      return { type: 'INT64' };
  }
}

function parquetValue<R>(c: Column<R>, row: R): string | bigint | Date | null {
  const v = c.get(row);
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (c.type === 'date' || c.type === 'timestamp') return new Date(v);
  // Already-scaled integers (nanos, pico, counts): written as-is, never through a float.
  return BigInt(v);
}

/** An integer scaled by 10^scale as an exact decimal string: (1500, 3) -> "1.5". */
export function formatScaled(value: bigint, scale: number): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const unit = 10n ** BigInt(scale);
  const frac = (abs % unit).toString().padStart(scale, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${abs / unit}${frac ? `.${frac}` : ''}`;
}
