import type { LedgerStore } from '../store/interface.ts';
import type { CallRecord } from './types.ts';

/** How long `flush` waits for the final rows of calls that already answered. */
const FINALS_DUE_WAIT_MS = 10_000;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Group commit. Rows queued in one event-loop turn are written in one transaction.
 * Pending rows are awaited (they must be durable before the upstream call); final rows are
 * not (they are off the request's path) and are retried if a write fails.
 */
export class LedgerWriter {
  private queue: CallRecord[] = [];
  private waiters: Waiter[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  /** Calls that answered their client and have not queued their final row yet. */
  private readonly finalsDue = new Set<Promise<void>>();

  constructor(
    private readonly store: LedgerStore,
    private readonly onError: (err: Error) => void = () => {},
    /** Final rows wait this long for company, so a steady trickle of calls still shares commits. */
    private readonly finalDelayMs = 20,
  ) {}

  writePending(row: CallRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push(row);
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  writeFinal(row: CallRecord): void {
    this.queue.push(row);
    if (this.scheduled || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.schedule();
    }, this.finalDelayMs);
  }

  /**
   * Says a final row is on its way (the client already has its answer; settling comes next).
   * `flush` waits for it, so "answered, then flushed" always finds the final row. Call the
   * returned function once the row is queued.
   */
  expectFinal(): () => void {
    let done: () => void = () => {};
    const due = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.finalsDue.add(due);
    return () => {
      this.finalsDue.delete(due);
      done();
    };
  }

  get backlog(): number {
    return this.queue.length;
  }

  /** Writes everything queued so far (used on shutdown and by tests). */
  async flush(): Promise<void> {
    if (this.finalsDue.size > 0) {
      // Bounded: a settlement stuck on an unreachable counter store must not hold a shutdown forever.
      let timer: NodeJS.Timeout | undefined;
      const cap = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, FINALS_DUE_WAIT_MS);
      });
      await Promise.race([Promise.all([...this.finalsDue]), cap]);
      clearTimeout(timer);
    }
    if (this.flushing) await this.flushing;
    if (this.queue.length > 0) await this.runFlush();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.flushing) void this.runFlush();
    });
  }

  private runFlush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const rows = this.queue;
    const waiters = this.waiters;
    this.queue = [];
    this.waiters = [];
    this.flushing = (async () => {
      try {
        await this.store.writeBatch(rows);
        this.failures = 0;
        for (const w of waiters) w.resolve();
      } catch (err) {
        const error = err as Error;
        this.failures++;
        this.onError(error);
        for (const w of waiters) w.reject(error);
        // Final rows must not be lost: put them back and retry with backoff.
        const pendingCount = waiters.length;
        const finals = rows.filter((r) => r.status !== 'pending');
        if (finals.length > 0 || pendingCount === 0) {
          this.queue.unshift(...finals);
          setTimeout(() => this.schedule(), Math.min(5000, 50 * 2 ** this.failures)).unref();
        }
      } finally {
        this.flushing = null;
        if (this.queue.length > 0 && this.failures === 0) this.schedule();
      }
    })();
    return this.flushing;
  }
}
