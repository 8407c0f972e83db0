import Database from 'better-sqlite3';
import type { CallRecord } from '../../ledger/types.ts';
import type { LedgerStore } from '../../store/interface.ts';
import { rowToCall } from '../../store/sqlite/ledger.ts';
import type { TimeRange } from './range.ts';

/** Where an export reads final ledger rows with ts_start in a range. */
export type CallSource = (range: TimeRange) => AsyncIterable<CallRecord> | Iterable<CallRecord>;

const PAGE = 10_000;

/**
 * Reads a live store in pages through its public query (newest first, 10,000 rows a page) and
 * yields to the event loop between pages, so an export never holds a cursor open on the
 * gateway's connection nor blocks requests for long. A page ends at a millisecond boundary:
 * the rows of its oldest millisecond are read again, whole, by the next page.
 */
export async function* ledgerStoreCalls(
  store: LedgerStore,
  range: TimeRange,
  pageSize = PAGE,
): AsyncIterable<CallRecord> {
  let to = range.toMs;
  for (;;) {
    const page = await store.queryCalls({ from: range.fromMs, to, limit: pageSize });
    if (page.length < pageSize) {
      yield* page;
      return;
    }
    const oldest = page[page.length - 1]?.tsStart ?? range.fromMs;
    const newer = page.filter((r) => r.tsStart > oldest);
    if (newer.length === 0) {
      throw new Error(`more than ${pageSize} ledger rows share one millisecond (${oldest}); cannot page`);
    }
    yield* newer;
    to = oldest + 1;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface LedgerFile {
  /** Final rows in ts_start order, streamed from one cursor (nothing else uses this connection). */
  calls(range: TimeRange): Iterable<CallRecord>;
  close(): void;
}

/**
 * Opens a gateway's SQLite file read-only, without its lock: a running gateway keeps writing
 * (WAL lets readers and the writer proceed together) and the export sees the last commit.
 */
export function openLedgerFile(file: string): LedgerFile {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const hasCalls = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calls'`).get();
    if (!hasCalls) throw new Error(`${file} is not a Tollgate database (no calls table)`);
  } catch (err) {
    db.close();
    throw err;
  }
  const select = db.prepare(
    `SELECT * FROM calls WHERE ts_start >= ? AND ts_start < ? AND status != 'pending'
     ORDER BY ts_start, call_id, attempt`,
  );
  return {
    *calls(range) {
      for (const r of select.iterate(range.fromMs, range.toMs) as IterableIterator<Record<string, unknown>>)
        yield rowToCall(r);
    },
    close: () => db.close(),
  };
}
