import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { addInto, copyAmount } from '../../budget/amount.ts';
import type { Amount, BudgetPolicy, PolicyState, ReserveLine, ReserveOutcome } from '../../budget/types.ts';
import type { Nanos } from '../../money.ts';
import { MemoryBudgetCounters } from '../memory/budgetCounters.ts';
import { BudgetKeys } from './budgetKeys.ts';
import { CountersUnavailableError } from './errors.ts';
import { fromSync } from './fromSync.ts';
import { LuaScript } from './luaScript.ts';
import type { AsyncBudgetCounters, ReapedReservation } from './types.ts';

export interface FailOpenCountersOptions {
  /**
   * The shared counters' data epoch: an id that changes whenever they are rebuilt from the
   * ledger (Redis lost its data); null when it cannot be read (Redis down or not rebuilt yet).
   * See `redisDataEpoch`.
   */
  dataEpoch: () => Promise<string | null>;
  /** How often spend booked locally is retried into the shared counters (default 500 ms). */
  replayEveryMs?: number;
  /** Told about a replay entry dropped on an error retrying cannot fix. */
  onReplayError?: (err: unknown) => void;
}

/** A reservation closed locally during an outage, waiting to reach the shared counters. */
interface LocalClose {
  reservationId: string;
  /** The real policies (not the allowance copies): their spend is what Redis must count. */
  lines: ReserveLine[];
  /** null: released, no spend. */
  actual: Amount | null;
  /** The reservation's time: spend is booked in that window, as everywhere else. */
  atMs: number;
  /** Data epoch known when the call was admitted (null: never read). */
  epoch: string | null;
  /** Progress, so a retry after a partial replay adds nothing twice. */
  closedInShared: boolean;
  linesAdded: number;
}

interface LocalReservation {
  store: AsyncBudgetCounters;
  lines: ReserveLine[];
  atMs: number;
  epoch: string | null;
}

/**
 * Shared (Redis) counters that fail open, per budget, when Redis cannot answer. A reservation
 * whose hard policies all say `on_store_down: open` is then made against a local in-memory store
 * where each policy's limit is its USD allowance: a cap per replica for the outage, so N replicas
 * overspend by at most N allowances. If any hard policy fails closed the error is rethrown (503).
 *
 * Locally closed reservations are replayed into Redis once it answers again. Each is first
 * closed there by id (a rebuild from the ledger may have restored it from the call's pending
 * row: its settle books the spend). Otherwise its spend is added, but only when the data epoch
 * is the one the replica knew when it admitted the call: a changed epoch means Redis lost its
 * data and was rebuilt from the ledger after that, and the rebuild already counted the call's
 * settled row (adding it again would count it twice). An unknown epoch (never read) adds:
 * counting twice is the safe error for a cap, missing spend is not.
 *
 * The local allowance is per outage: the first reservation Redis answers again starts the next
 * outage from a fresh local store.
 */
export class FailOpenCounters implements AsyncBudgetCounters {
  private outage: AsyncBudgetCounters | null = null;
  private readonly local = new Map<string, LocalReservation>();
  private readonly pending: LocalClose[] = [];
  private readonly allowanceCopies = new WeakMap<BudgetPolicy, BudgetPolicy>();
  private knownEpoch: string | null = null;
  private replaying: Promise<number> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly shared: AsyncBudgetCounters,
    private readonly options: FailOpenCountersOptions,
  ) {}

  /** Reads the epoch now and keeps replaying (and re-reading it) in the background until `stop`. */
  async start(): Promise<void> {
    await this.refreshEpoch();
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.replayNow();
    }, this.options.replayEveryMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Locally closed reservations not yet in the shared counters. */
  pendingReplays(): number {
    return this.pending.length;
  }

  /** True if the reservation was admitted against the local allowance (for the ledger row's flag). */
  admittedLocally(reservationId: string): boolean {
    return this.isLocal(reservationId);
  }

  isLocal(reservationId: string): boolean {
    return this.local.has(reservationId);
  }

  async reserve(reservationId: string, lines: ReserveLine[], nowMs: number): Promise<ReserveOutcome> {
    try {
      const outcome = await this.shared.reserve(reservationId, lines, nowMs);
      this.outageOver();
      return outcome;
    } catch (err) {
      if (!(err instanceof CountersUnavailableError) || !failsOpen(lines)) throw err;
      return this.reserveLocally(reservationId, lines, nowMs);
    }
  }

  async settle(reservationId: string, actual: Amount): Promise<boolean> {
    const held = this.local.get(reservationId);
    if (!held) return this.shared.settle(reservationId, actual);
    this.local.delete(reservationId);
    const closed = await held.store.settle(reservationId, actual);
    this.queue(reservationId, held, copyAmount(actual));
    return closed;
  }

  async release(reservationId: string): Promise<boolean> {
    const held = this.local.get(reservationId);
    if (!held) return this.shared.release(reservationId);
    this.local.delete(reservationId);
    const closed = await held.store.release(reservationId);
    this.queue(reservationId, held, null);
    return closed;
  }

  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): Promise<void> {
    return this.shared.addSpent(policy, amount, atMs);
  }

  /**
   * Redis's state plus spend booked locally and not replayed yet. While Redis is down, a policy
   * that fails open answers from the outage store (its spend against the allowance).
   */
  async state(policy: BudgetPolicy, nowMs: number): Promise<PolicyState> {
    let state: PolicyState;
    try {
      state = await this.shared.state(policy, nowMs);
    } catch (err) {
      const outage = this.outage;
      if (!(err instanceof CountersUnavailableError) || !outage || !opensOnDown(policy)) throw err;
      return outage.state(this.allowanceCopy(policy), nowMs);
    }
    for (const close of this.pending) {
      if (!close.actual || close.atMs < state.window.startMs) continue;
      if (close.lines.some((l) => l.policy.id === policy.id)) addInto(state.spent, close.actual);
    }
    return state;
  }

  async openReservations(): Promise<number> {
    return (await this.shared.openReservations()) + this.local.size;
  }

  /** The shared reaper. Local reservations are always closed by their own call (same process). */
  reap(nowMs: number, limit?: number): Promise<ReapedReservation[]> {
    return this.shared.reap(nowMs, limit);
  }

  /** A local reservation has no lease (its own call closes it, nothing reaps it): only shared ones go to Redis. */
  async renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number> {
    const shared = ids.filter((id) => !this.local.has(id));
    const local = ids.length - shared.length;
    if (shared.length === 0) return local;
    return local + (await this.shared.renew(shared, leaseExpiresAtMs));
  }

  /**
   * Replays locally closed reservations into the shared counters, in order, each exactly once;
   * stops at the first sign Redis is still unavailable. Returns how many are still waiting.
   */
  replayNow(): Promise<number> {
    if (!this.replaying) {
      this.replaying = this.replay().finally(() => {
        this.replaying = null;
      });
    }
    return this.replaying;
  }

  private async replay(): Promise<number> {
    const current = await this.refreshEpoch();
    if (current === null) return this.pending.length;
    while (this.pending.length > 0) {
      const close = this.pending[0];
      if (!close) break;
      try {
        await this.replayOne(close, current);
      } catch (err) {
        if (err instanceof CountersUnavailableError) break;
        this.options.onReplayError?.(err);
      }
      this.pending.shift();
    }
    return this.pending.length;
  }

  private async replayOne(close: LocalClose, epoch: string): Promise<void> {
    if (!close.closedInShared) {
      const { reservationId, actual } = close;
      // Restored by a rebuild (the call was pending then): closing it books the spend.
      const closed = actual
        ? await this.shared.settle(reservationId, actual)
        : await this.shared.release(reservationId);
      close.closedInShared = true;
      if (closed) close.linesAdded = close.lines.length;
    }
    const { actual } = close;
    if (!actual || (close.epoch !== null && close.epoch !== epoch)) return;
    while (close.linesAdded < close.lines.length) {
      const line = close.lines[close.linesAdded];
      if (line) await this.shared.addSpent(line.policy, actual, close.atMs);
      close.linesAdded++;
    }
  }

  private async reserveLocally(
    reservationId: string,
    lines: ReserveLine[],
    nowMs: number,
  ): Promise<ReserveOutcome> {
    this.outage ??= fromSync(new MemoryBudgetCounters());
    const store = this.outage;
    const capped = lines.map((l) => ({ policy: this.allowanceCopy(l.policy), amount: l.amount }));
    const outcome = await store.reserve(reservationId, capped, nowMs);
    // The allowance frees when Redis is back, not at the window's end: no reset time to promise.
    if (!outcome.ok) return { ...outcome, resetsAtMs: null };
    const kept = lines.map((l) => ({ policy: l.policy, amount: copyAmount(l.amount) }));
    this.local.set(reservationId, { store, lines: kept, atMs: nowMs, epoch: this.knownEpoch });
    return outcome;
  }

  private queue(reservationId: string, held: LocalReservation, actual: Amount | null): void {
    this.pending.push({
      reservationId,
      lines: held.lines,
      actual,
      atMs: held.atMs,
      epoch: held.epoch,
      closedInShared: false,
      linesAdded: 0,
    });
  }

  /** Redis answered: the next outage starts with a full allowance; catch up on local spend. */
  private outageOver(): void {
    this.outage = null;
    if (this.pending.length > 0) void this.replayNow();
  }

  private async refreshEpoch(): Promise<string | null> {
    let epoch: string | null;
    try {
      epoch = await this.options.dataEpoch();
    } catch {
      epoch = null;
    }
    if (epoch !== null) this.knownEpoch = epoch;
    return epoch;
  }

  /** The policy as the outage store sees it: same id and window, limited to the USD allowance. */
  private allowanceCopy(policy: BudgetPolicy): BudgetPolicy {
    const allowance = allowanceOf(policy);
    if (allowance === null) return policy;
    let copy = this.allowanceCopies.get(policy);
    if (!copy) {
      copy = { ...policy, limit: { usdNanos: allowance, tokens: null, requests: null } };
      this.allowanceCopies.set(policy, copy);
    }
    return copy;
  }
}

function opensOnDown(policy: BudgetPolicy): boolean {
  return policy.storeDown?.mode === 'open';
}

function allowanceOf(policy: BudgetPolicy): Nanos | null {
  return policy.storeDown?.mode === 'open' ? policy.storeDown.allowanceNanos : null;
}

/** Fail open only when every hard line allows it (soft lines never block, so they do not vote). */
function failsOpen(lines: ReserveLine[]): boolean {
  const hard = lines.filter((l) => l.policy.mode === 'hard');
  return hard.length > 0 && hard.every((l) => opensOnDown(l.policy));
}

/** KEYS: seeded, epoch. Creates the epoch on first read after a rebuild; nil while not seeded. */
const DATA_EPOCH = new LuaScript(
  'budget data epoch',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('SET', KEYS[2], ARGV[1], 'NX')
return redis.call('GET', KEYS[2])
`,
);

/**
 * The data epoch of `RedisBudgetCounters` under `prefix`: a random id stored beside the
 * `seeded` flag, created on the first read once the counters are seeded. The rebuild wipes every
 * key of the prefix, and a Redis that lost its data lost it too, so a rebuilt store gets a new id.
 */
export function redisDataEpoch(client: Redis, prefix: string): () => Promise<string | null> {
  const keys = new BudgetKeys(prefix);
  const epochKey = `${keys.prefix}:epoch`;
  return async () => {
    const reply = await DATA_EPOCH.run(client, [keys.seeded, epochKey], [randomUUID()]);
    return typeof reply === 'string' ? reply : null;
  };
}
