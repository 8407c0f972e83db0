import type { QueueConfig } from './config.ts';

export type QueueOutcome = 'admitted' | 'timeout' | 'full' | 'aborted';

interface Waiter {
  owner: string;
  /** Tries to reserve; true = the call got its budget and leaves the queue. */
  tryAdmit: () => Promise<boolean>;
  /** Ends the wait; while a try is in flight the end is deferred until it answers. */
  finish: (outcome: QueueOutcome) => void;
  /** Called when a try answers: admits, or ends a wait that timed out or was aborted meanwhile. */
  settleTry: (admitted: boolean) => void;
  trying: boolean;
}

export interface QueueSnapshot {
  depth: number;
  owners: number;
  admitted: number;
  timedOut: number;
  rejectedFull: number;
}

/**
 * Calls waiting for budget (policies with `on_exhausted: queue`). Bounded in depth and wait.
 * Fair across owners (keys): each pass offers budget to the head of every owner's line in
 * round-robin order, so one busy key cannot starve the others. Waiters are retried whenever a
 * reservation closes (`notify`) and on a short poll, which covers windows that reset or roll.
 */
export class BudgetQueue {
  private readonly lines = new Map<string, Waiter[]>();
  private depth = 0;
  private poll: NodeJS.Timeout | null = null;
  private stats = { admitted: 0, timedOut: 0, rejectedFull: 0 };
  private notifying = false;
  private again = false;

  constructor(
    private readonly config: QueueConfig,
    private readonly pollMs = 200,
  ) {}

  get size(): number {
    return this.depth;
  }

  /** Waits until `tryAdmit` succeeds, the wait times out, the queue is full, or `onAbort` fires. */
  wait(
    owner: string,
    tryAdmit: () => Promise<boolean>,
    onAbort: (abort: () => void) => void,
  ): Promise<QueueOutcome> {
    if (this.depth >= this.config.max_depth) {
      this.stats.rejectedFull++;
      return Promise.resolve('full');
    }
    return new Promise<QueueOutcome>((resolve) => {
      let done = false;
      let deferred: QueueOutcome | null = null;
      const waiter: Waiter = {
        owner,
        tryAdmit,
        trying: false,
        settleTry: (admitted) => {
          waiter.trying = false;
          if (admitted) waiter.finish('admitted');
          else if (deferred) waiter.finish(deferred);
        },
        finish: (outcome) => {
          if (done) return;
          // A reservation attempt in flight decides first: ending now could orphan what it reserves.
          if (waiter.trying && outcome !== 'admitted') {
            deferred ??= outcome;
            return;
          }
          done = true;
          clearTimeout(timer);
          this.remove(waiter);
          if (outcome === 'admitted') this.stats.admitted++;
          if (outcome === 'timeout') this.stats.timedOut++;
          resolve(outcome);
        },
      };
      const timer = setTimeout(() => waiter.finish('timeout'), this.config.max_wait_ms);
      const line = this.lines.get(owner) ?? [];
      line.push(waiter);
      this.lines.set(owner, line);
      this.depth++;
      this.ensurePoll();
      onAbort(() => waiter.finish('aborted'));
    });
  }

  /** Offers freed budget to waiting calls, round-robin across owners; one pass at a time. */
  notify(): void {
    if (this.depth === 0) return;
    this.again = true;
    if (this.notifying) return;
    this.notifying = true;
    void this.passes().finally(() => {
      this.notifying = false;
    });
  }

  private async passes(): Promise<void> {
    while (this.again && this.depth > 0) {
      this.again = false;
      let progress = true;
      while (progress && this.depth > 0) {
        progress = false;
        for (const owner of [...this.lines.keys()]) {
          const head = this.lines.get(owner)?.[0];
          if (!head || head.trying) continue;
          head.trying = true;
          let admitted = false;
          try {
            admitted = await head.tryAdmit();
          } catch {
            admitted = false;
          }
          head.settleTry(admitted);
          if (admitted) {
            progress = true;
            // Rotate: the owner just served goes to the back of the round.
            const line = this.lines.get(owner);
            if (line) {
              this.lines.delete(owner);
              this.lines.set(owner, line);
            }
          }
        }
      }
    }
  }

  snapshot(): QueueSnapshot {
    return { depth: this.depth, owners: this.lines.size, ...this.stats };
  }

  close(): void {
    for (const line of [...this.lines.values()]) for (const w of [...line]) w.finish('aborted');
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  private remove(waiter: Waiter): void {
    const line = this.lines.get(waiter.owner);
    if (!line) return;
    const i = line.indexOf(waiter);
    if (i < 0) return;
    line.splice(i, 1);
    this.depth--;
    if (line.length === 0) this.lines.delete(waiter.owner);
    if (this.depth === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  private ensurePoll(): void {
    if (this.poll) return;
    this.poll = setInterval(() => this.notify(), this.pollMs);
    this.poll.unref();
  }
}
