import type { CallFilter, CallRecord, UsageDimension, UsageRow } from '../../ledger/types.ts';
import type { LedgerStore } from '../interface.ts';
import { appendDurably, type SpoolChunk, SpoolFile } from './spoolFile.ts';
import { isTransientDatabaseError } from './transient.ts';

export interface SpoolingOptions {
  /** The spool file, on local (persistent) disk; one per gateway process. */
  path: string;
  /** Which write failures mean "database unavailable, spool it". */
  isUnavailable?: (err: unknown) => boolean;
  /** First retry delay after a failed replay; doubles up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Rows per replayed batch. */
  replayBatchRows?: number;
  onError?: (message: string, err?: unknown) => void;
  /** Called after each replayed batch, for logs and metrics. */
  onReplayed?: (rows: number) => void;
}

/** A read (or a write of non-spoolable kind) while the ledger database is unreachable. */
export class LedgerUnavailableError extends Error {
  readonly code = 'store_unavailable';
}

type StepResult = 'empty' | 'progress' | 'down';

/**
 * A LedgerStore that never loses a ledger row to a database outage. While the database cannot
 * be reached, batches are appended to a local spool file and fsync'd — a pending row is durable
 * once it is there — and writeBatch resolves, so the gateway keeps answering. A background
 * replayer retries with backoff and, when the database is back, replays the spool in order
 * (the ledger upsert makes a replay idempotent) and empties it; no restart needed. A spool left
 * by a previous process is replayed first when opened.
 *
 * Order is the invariant: every write and every replay step runs on one serial lane, and while
 * the spool holds anything new batches are appended behind it instead of going to the database,
 * so a call's final row can never be overwritten by its older pending row.
 *
 * Reads go to the database and fail with LedgerUnavailableError while it is down.
 */
export class SpoolingLedgerStore implements LedgerStore {
  private lane: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private closed = false;
  private readonly isUnavailable: (err: unknown) => boolean;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly batchRows: number;
  private readonly onError: (message: string, err?: unknown) => void;
  private readonly onReplayed: (rows: number) => void;

  private constructor(
    private readonly inner: LedgerStore,
    private readonly spool: SpoolFile,
    opts: SpoolingOptions,
  ) {
    this.isUnavailable = opts.isUnavailable ?? isTransientDatabaseError;
    this.retryMinMs = opts.retryMinMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5_000;
    this.batchRows = opts.replayBatchRows ?? 1_000;
    this.onError = opts.onError ?? (() => {});
    this.onReplayed = opts.onReplayed ?? (() => {});
    this.backoffMs = this.retryMinMs;
  }

  /** Opens the spool and replays what a previous process left before anything new is written. */
  static async open(inner: LedgerStore, opts: SpoolingOptions): Promise<SpoolingLedgerStore> {
    const spool = await SpoolFile.open(opts.path);
    const store = new SpoolingLedgerStore(inner, spool, opts);
    try {
      if (spool.pending > 0 && !(await store.drain())) store.scheduleReplay();
    } catch (err) {
      await spool.close();
      throw err;
    }
    return store;
  }

  /** Rows on disk waiting for the database. */
  spooled(): number {
    return this.spool.pending;
  }

  writeBatch(rows: CallRecord[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.inLane(async () => {
      if (this.closed) throw new LedgerUnavailableError('the ledger store is closed');
      if (this.spool.pending === 0) {
        try {
          await this.inner.writeBatch(rows);
          return;
        } catch (err) {
          if (!this.isUnavailable(err)) throw err;
          this.onError(`ledger database unavailable, spooling rows to ${this.spool.path}`, err);
        }
      }
      await this.spool.append(rows);
      this.scheduleReplay();
    });
  }

  /**
   * Replays the whole spool now, if the database takes it. True when the spool is empty
   * afterwards; false when the database is still unavailable (the replayer keeps trying).
   */
  async drain(): Promise<boolean> {
    for (;;) {
      const result = await this.inLane(() => this.replayStep());
      if (result === 'empty') return true;
      if (result === 'down') return false;
    }
  }

  /**
   * Renewal goes to the database directly, off the write lane: it only lengthens the lease of
   * rows still pending there, so it cannot reorder a call's rows, and a call's pending write never
   * waits behind it. Renewals are not spooled. While the spool holds rows the database is (or just
   * was) unreachable and some pending rows are only on disk: the pass is skipped (0). A spooled
   * pending row is replayed with its first lease; the next renewal after the replay, at most a
   * third of a lease later, brings it current. Until then the audit may list it as past its lease
   * and a counters rebuild restores its reservation for one lease from the rebuild, which is what
   * the rebuild gives any pending row; the Redis reaper goes by the Redis lease, never by the row's.
   * A database that is down fails the renewal with LedgerUnavailableError, for the caller to log.
   */
  async renewPendingLeases(
    ids: ReadonlyArray<{ callId: string; attempt: number }>,
    leaseUntilMs: number,
  ): Promise<number> {
    if (ids.length === 0 || this.closed || this.spool.pending > 0) return 0;
    return this.read(() => this.inner.renewPendingLeases(ids, leaseUntilMs));
  }

  pendingRows(): Promise<CallRecord[]> {
    return this.read(() => this.inner.pendingRows());
  }

  async *iterateSettledSince(fromMs: number): AsyncIterable<CallRecord> {
    try {
      yield* this.inner.iterateSettledSince(fromMs);
    } catch (err) {
      throw this.readError(err);
    }
  }

  queryCalls(filter: CallFilter): Promise<CallRecord[]> {
    return this.read(() => this.inner.queryCalls(filter));
  }

  usage(by: UsageDimension, filter: CallFilter): Promise<UsageRow[]> {
    return this.read(() => this.inner.usage(by, filter));
  }

  count(): Promise<number> {
    return this.read(() => this.inner.count());
  }

  /**
   * Stops the replayer after one last attempt to empty the spool; whatever the database still
   * refuses stays on disk for the next start. Does not close the inner store.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.spool.pending > 0) await this.drain().catch(() => false);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.lane;
    await this.spool.close();
  }

  private inLane<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lane.then(task);
    this.lane = run.catch(() => {});
    return run;
  }

  /** One replay timer at a time; an immediate request (more to replay) replaces a waiting one. */
  private scheduleReplay(delayMs = this.backoffMs): void {
    if (this.closed) return;
    if (this.timer) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inLane(() => this.replayStep()).then(
        (result) => {
          if (result === 'progress') this.scheduleReplay(0);
          else if (result === 'down') this.scheduleReplay();
        },
        (err: unknown) => {
          this.onError('ledger spool replay failed', err);
          this.scheduleReplay();
        },
      );
    }, delayMs);
    this.timer.unref();
  }

  private async replayStep(): Promise<StepResult> {
    if (this.spool.pending === 0) return 'empty';
    const chunk = await this.spool.peek(this.batchRows);
    try {
      await this.inner.writeBatch(chunk.rows);
    } catch (err) {
      if (this.isUnavailable(err)) return this.retryLater();
      // The database is up but refuses the batch: find the rows it refuses.
      if (!(await this.replayRowByRow(chunk))) return this.retryLater();
    }
    if (chunk.corrupt.length > 0) {
      this.onError(`ledger spool: ${chunk.corrupt.length} unreadable line(s) set aside`);
      await this.setAside(chunk.corrupt.map((line) => ({ reason: 'unreadable', line })));
    }
    await this.spool.consume(chunk);
    this.backoffMs = this.retryMinMs;
    this.onReplayed(chunk.rows.length);
    return this.spool.pending === 0 ? 'empty' : 'progress';
  }

  /** False if the database went away midway: the chunk is replayed again from its start. */
  private async replayRowByRow(chunk: SpoolChunk): Promise<boolean> {
    for (const row of chunk.rows) {
      try {
        await this.inner.writeBatch([row]);
      } catch (err) {
        if (this.isUnavailable(err)) return false;
        this.onError(
          `ledger spool: row ${row.callId}/${row.attempt} refused by the database, set aside`,
          err,
        );
        await this.setAside([{ reason: errorMessage(err), row }]);
      }
    }
    return true;
  }

  private retryLater(): StepResult {
    this.backoffMs = Math.min(this.retryMaxMs, Math.max(this.retryMinMs, this.backoffMs * 2));
    return 'down';
  }

  /** Rows the database will never take are kept beside the spool for an operator, never dropped. */
  private async setAside(entries: object[]): Promise<void> {
    await appendDurably(`${this.spool.path}.rejected`, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  private async read<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      throw this.readError(err);
    }
  }

  private readError(err: unknown): unknown {
    if (!this.isUnavailable(err)) return err;
    const spooled = this.spool.pending;
    return new LedgerUnavailableError(
      `The ledger database is unavailable (${errorMessage(err)}); ${spooled} row(s) are spooled locally and will be written when it returns.`,
      { cause: err },
    );
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
