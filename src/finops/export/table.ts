/**
 * A format-neutral table: typed columns over rows. The CSV and Parquet encoders read the same
 * definition, so both formats always carry the same columns with the same meaning.
 */

export type CellType =
  /** Text. */
  | 'string'
  /** A JSON object serialized as a string (FOCUS Tags). */
  | 'json'
  /** Epoch ms of a UTC midnight: CSV `YYYY-MM-DD`, Parquet DATE. */
  | 'date'
  /** Epoch ms: CSV ISO 8601 UTC (`2026-11-22T00:00:00Z`), Parquet TIMESTAMP(MILLIS, UTC). */
  | 'timestamp'
  /** Whole count: CSV integer, Parquet INT64. */
  | 'int'
  /** Integer nanos shown as USD: CSV exact decimal, Parquet DECIMAL(18,9). */
  | 'usd'
  /** Whole quantity typed as a FOCUS Decimal: CSV integer, Parquet DECIMAL(18,0). */
  | 'quantity'
  /** Integer pico-USD per unit shown as USD: CSV exact decimal, Parquet DECIMAL(18,12). */
  | 'unit_price';

export type Cell = string | number | null;

export interface Column<R> {
  name: string;
  type: CellType;
  get: (row: R) => Cell;
}

export interface Table<R> {
  columns: ReadonlyArray<Column<R>>;
  rows: readonly R[];
}

/** Column helpers that keep definitions one line each. */
export const col = {
  string: <R>(name: string, get: (row: R) => string | null): Column<R> => ({ name, type: 'string', get }),
  json: <R>(name: string, get: (row: R) => string | null): Column<R> => ({ name, type: 'json', get }),
  date: <R>(name: string, get: (row: R) => number | null): Column<R> => ({ name, type: 'date', get }),
  timestamp: <R>(name: string, get: (row: R) => number | null): Column<R> => ({
    name,
    type: 'timestamp',
    get,
  }),
  int: <R>(name: string, get: (row: R) => number | null): Column<R> => ({ name, type: 'int', get }),
  usd: <R>(name: string, get: (row: R) => number | null): Column<R> => ({ name, type: 'usd', get }),
  quantity: <R>(name: string, get: (row: R) => number | null): Column<R> => ({ name, type: 'quantity', get }),
  unitPrice: <R>(name: string, get: (row: R) => number | null): Column<R> => ({
    name,
    type: 'unit_price',
    get,
  }),
};
