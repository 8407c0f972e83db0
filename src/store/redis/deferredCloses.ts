import type { Amount } from '../../budget/types.ts';
import { CountersUnavailableError } from './errors.ts';
import type { AsyncBudgetCounters } from './types.ts';

export type Close = { kind: 'settle'; id: string; actual: Amount } | { kind: 'release'; id: string };

export interface DeferredClosesOptions {
  /** How often queued closes are retried. */
  retryEveryMs?: number;
  /**
   * Stop retrying a close after this long (use the reservation lease): by then the reaper has
   * settled the reservation at its reserved amount and flagged it, so the close has nothing left to do.
   */
  maxAgeMs: number;
  clock?: () => number;
  /** Releases kept for retry at most (settles are always kept); default 100,000. */
  maxQueued?: number;
  /** Told about a close given up on, to log it. */
  onGiveUp?: (close: Close) => void;
}

/**
 * Settles and releases that keep trying while Redis is unreachable. A call that ran must have its
 * spend booked even if Redis blinked at settle time; waiting for the lease reaper would book the
 * reserved amount instead of the actual one. Retrying is safe: both are idempotent, so a close
 * that did land but whose reply was lost simply answers false the second time.
 */
export class DeferredCloses {
  private readonly queue = new Map<string, { close: Close; sinceMs: number }>();
  private timer: NodeJS.Timeout | null = null;
  private retrying = false;
  private readonly clock: () => number;

  constructor(
    private readonly counters: AsyncBudgetCounters,
    private readonly options: DeferredClosesOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** The store's answer (true: closed now, false: was not open), or 'deferred' if it is unreachable. */
  settle(id: string, actual: Amount): Promise<boolean | 'deferred'> {
    return this.attempt({ kind: 'settle', id, actual });
  }

  release(id: string): Promise<boolean | 'deferred'> {
    return this.attempt({ kind: 'release', id });
  }

  /** Closes still waiting for the store. */
  size(): number {
    return this.queue.size;
  }

  /** Retries every queued close once; returns how many are still waiting. */
  async retryNow(): Promise<number> {
    if (this.retrying) return this.queue.size;
    this.retrying = true;
    try {
      for (const [id, { close, sinceMs }] of [...this.queue]) {
        try {
          await this.run(close);
          this.queue.delete(id);
        } catch (err) {
          // A bug-class error will not heal by retrying; give up on that one close.
          const hopeless = !(err instanceof CountersUnavailableError);
          if (hopeless || this.clock() - sinceMs >= this.options.maxAgeMs) {
            this.queue.delete(id);
            this.options.onGiveUp?.(close);
          }
          if (hopeless) continue;
          // Still down: the rest would fail the same way.
          break;
        }
      }
    } finally {
      this.retrying = false;
      if (this.queue.size === 0) this.stopTimer();
    }
    return this.queue.size;
  }

  stop(): void {
    this.stopTimer();
  }

  private async attempt(close: Close): Promise<boolean | 'deferred'> {
    try {
      return await this.run(close);
    } catch (err) {
      if (!(err instanceof CountersUnavailableError)) throw err;
      // Bounded memory in a long outage: a release that is not kept is left to the lease reaper,
      // which settles it at its reserved amount — an overcount, never an overspend. Settles
      // (real spend) are always kept; they come only from calls that ran, which are few while
      // the counters are down.
      if (close.kind === 'release' && this.queue.size >= (this.options.maxQueued ?? 100_000)) {
        this.options.onGiveUp?.(close);
        return 'deferred';
      }
      this.queue.set(close.id, { close, sinceMs: this.clock() });
      this.startTimer();
      return 'deferred';
    }
  }

  private run(close: Close): Promise<boolean> {
    return close.kind === 'settle'
      ? this.counters.settle(close.id, close.actual)
      : this.counters.release(close.id);
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.retryNow().catch(() => {});
    }, this.options.retryEveryMs ?? 500);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
