import type { Amount, BudgetPolicy, PolicyState, ReserveLine, ReserveOutcome } from '../../budget/types.ts';
import type { Acquire, RateLimitRule, RuleSnapshot } from '../../ratelimit/types.ts';
import { CountersUnavailableError } from './errors.ts';
import type { AsyncBudgetCounters, AsyncRateLimits, ReapedReservation } from './types.ts';

/** Ids per renewal script call: bounds how long one call blocks Redis. */
export const RENEW_BATCH_SIZE = 500;
/** Renewal ticks are never closer than this, whatever the lease. */
export const MIN_RENEW_EVERY_MS = 1_000;

export interface LeaseKeeperOptions {
  /** The lease of reservations and rate limit handles (`ledger.lease_ms`). */
  leaseMs: number;
  /** Told about a store whose renewal failed this tick (Redis down); the next tick retries. */
  onError?: (err: unknown, store: string) => void;
  /** Ids per renewal call (default and maximum RENEW_BATCH_SIZE). */
  batchSize?: number;
  /**
   * Renews, after the budget reservations themselves, the records that carry the same leases
   * elsewhere (the ledger's pending rows), given the held reservation ids and the new expiry;
   * answers how many it found. Tried even when the reservations' store failed: the calls still
   * run. A failure is reported as store RESERVATION_RECORDS and retried on the next tick.
   */
  renewReservationRecords?: Renew;
}

/** The name a failed `renewReservationRecords` is reported under. */
export const RESERVATION_RECORDS = 'reservation records';

/** What one renewal pass did, per store. */
export interface RenewalPass {
  /** Ids sent for renewal. */
  held: number;
  /** Of those, still open in the store (renewed). */
  renewed: number;
  /** Stores whose renewal failed (their remaining batches wait for the next tick). */
  failed: string[];
  /** With `renewReservationRecords`: how many records it found for the held reservations. */
  records?: number;
}

export type Renew = (ids: readonly string[], leaseExpiresAtMs: number) => Promise<number>;

/**
 * The ids this replica holds open in one store. While a call runs its id is renewed; after a close
 * that could not reach the store it is renewed for one more lease, the time DeferredCloses keeps
 * retrying that close, so the retry finds the reservation rather than the reaper's booking.
 */
class HeldLeases {
  /** id -> renew until (ms); Infinity while the call runs. */
  private readonly held = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly renew: Renew,
    /** Renews the records of the same ids elsewhere (see `renewReservationRecords`). */
    readonly renewRecords?: Renew,
  ) {}

  get size(): number {
    return this.held.size;
  }

  hold(id: string): void {
    this.held.set(id, Number.POSITIVE_INFINITY);
  }

  forget(id: string): void {
    this.held.delete(id);
  }

  /** A close failed because the store is unavailable: keep the lease alive until `untilMs`. */
  closing(id: string, untilMs: number): void {
    if (this.held.has(id)) this.held.set(id, untilMs);
  }

  /** The ids to renew at `nowMs`; those kept only until an earlier time are dropped. */
  live(nowMs: number): string[] {
    const ids: string[] = [];
    for (const [id, untilMs] of this.held) {
      if (untilMs <= nowMs) this.held.delete(id);
      else ids.push(id);
    }
    return ids;
  }

  /** Renews `ids` to `leaseExpiresAtMs` in batches; rejects on the first failed batch. */
  renewAll(ids: readonly string[], leaseExpiresAtMs: number, batchSize: number): Promise<number> {
    return inBatches(this.renew, ids, leaseExpiresAtMs, batchSize);
  }
}

async function inBatches(
  renew: Renew,
  ids: readonly string[],
  leaseExpiresAtMs: number,
  batchSize: number,
): Promise<number> {
  let renewed = 0;
  for (let i = 0; i < ids.length; i += batchSize) {
    renewed += await renew(ids.slice(i, i + batchSize), leaseExpiresAtMs);
  }
  return renewed;
}

/**
 * Keeps the leases of this replica's open calls alive, so a call that runs longer than a lease (a
 * long stream, a slow model) is not reaped at its reserved amount while it is still running. Only
 * a replica that died stops renewing, and only its reservations and slots expire.
 *
 * Wrap the shared stores with `budgetCounters` and `rateLimits`: the wrappers remember the ids
 * admitted and forget them when closed. One timer, every lease / 3 (at least 1 s), renews all of
 * them to now + lease, in batches: no per-call timer. A failed renewal is reported and retried on
 * the next tick, which still comes before the lease runs out; it never reaches a request.
 * With `renewReservationRecords` the same pass carries the budget reservations' new lease to the
 * records that repeat it (the ledger's pending rows), so they too show a running call as live.
 */
export class LeaseKeeper {
  private readonly stores: HeldLeases[] = [];
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RenewalPass> | null = null;
  private clock: () => number = Date.now;

  constructor(private readonly options: LeaseKeeperOptions) {
    if (!Number.isSafeInteger(options.leaseMs) || options.leaseMs <= 0) {
      throw new RangeError(`lease must be a positive number of ms, got ${options.leaseMs}`);
    }
    const batchSize = options.batchSize ?? RENEW_BATCH_SIZE;
    if (!Number.isSafeInteger(batchSize) || batchSize <= 0 || batchSize > RENEW_BATCH_SIZE) {
      throw new RangeError(`renewal batch size must be 1..${RENEW_BATCH_SIZE}, got ${batchSize}`);
    }
    this.batchSize = batchSize;
  }

  /** How often leases are renewed: a third of the lease, so two ticks may fail before one expires. */
  get everyMs(): number {
    return Math.max(MIN_RENEW_EVERY_MS, Math.floor(this.options.leaseMs / 3));
  }

  /** Ids held open (running calls, and closes waiting for the store), over every wrapped store. */
  held(): number {
    return this.stores.reduce((n, s) => n + s.size, 0);
  }

  budgetCounters(inner: AsyncBudgetCounters): AsyncBudgetCounters {
    const leases = this.track(
      'budget reservations',
      (ids, at) => inner.renew(ids, at),
      this.options.renewReservationRecords,
    );
    return new KeptBudgetCounters(inner, leases, () => this.clock() + this.options.leaseMs);
  }

  rateLimits(inner: AsyncRateLimits): AsyncRateLimits {
    const leases = this.track('rate limit handles', (ids, at) => inner.renew(ids, at));
    return new KeptRateLimits(inner, leases);
  }

  /** Renews on a timer (unref'd) until `stop`; `clock` must be the one the calls are admitted with. */
  start(clock: () => number = Date.now): void {
    this.clock = clock;
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.renewNow();
    }, this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One renewal pass over every store (joins the pass already running). Never rejects. */
  renewNow(): Promise<RenewalPass> {
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private track(name: string, renew: Renew, renewRecords?: Renew): HeldLeases {
    const leases = new HeldLeases(name, renew, renewRecords);
    this.stores.push(leases);
    return leases;
  }

  private async pass(): Promise<RenewalPass> {
    const result: RenewalPass = { held: 0, renewed: 0, failed: [] };
    for (const store of this.stores) {
      const now = this.clock();
      const ids = store.live(now);
      const until = now + this.options.leaseMs;
      try {
        result.renewed += await store.renewAll(ids, until, this.batchSize);
        result.held += ids.length;
      } catch (err) {
        this.failed(result, store.name, err);
      }
      const { renewRecords } = store;
      if (!renewRecords) continue;
      result.records ??= 0;
      try {
        result.records += await inBatches(renewRecords, ids, until, this.batchSize);
      } catch (err) {
        this.failed(result, RESERVATION_RECORDS, err);
      }
    }
    return result;
  }

  private failed(result: RenewalPass, store: string, err: unknown): void {
    result.failed.push(store);
    try {
      this.options.onError?.(err, store);
    } catch {
      // A logger that throws must not stop the other stores' renewal.
    }
  }
}

class KeptBudgetCounters implements AsyncBudgetCounters {
  constructor(
    private readonly inner: AsyncBudgetCounters,
    private readonly leases: HeldLeases,
    private readonly oneLeaseFromNow: () => number,
  ) {}

  async reserve(reservationId: string, lines: ReserveLine[], nowMs: number): Promise<ReserveOutcome> {
    const outcome = await this.inner.reserve(reservationId, lines, nowMs);
    if (outcome.ok) this.leases.hold(reservationId);
    return outcome;
  }

  settle(reservationId: string, actual: Amount): Promise<boolean> {
    return this.closed(reservationId, () => this.inner.settle(reservationId, actual));
  }

  release(reservationId: string): Promise<boolean> {
    return this.closed(reservationId, () => this.inner.release(reservationId));
  }

  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): Promise<void> {
    return this.inner.addSpent(policy, amount, atMs);
  }

  state(policy: BudgetPolicy, nowMs: number): Promise<PolicyState> {
    return this.inner.state(policy, nowMs);
  }

  openReservations(): Promise<number> {
    return this.inner.openReservations();
  }

  reap(nowMs: number, limit?: number): Promise<ReapedReservation[]> {
    return this.inner.reap(nowMs, limit);
  }

  renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number> {
    return this.inner.renew(ids, leaseExpiresAtMs);
  }

  admittedLocally(reservationId: string): boolean {
    return this.inner.admittedLocally?.(reservationId) ?? false;
  }

  /**
   * Answered (either way): the reservation is closed. Store unavailable: DeferredCloses retries
   * the close for up to a lease, so the lease is kept that long. Any other error is a bug no retry
   * fixes: the reaper takes the reservation at its lease.
   */
  private async closed(reservationId: string, close: () => Promise<boolean>): Promise<boolean> {
    try {
      const answer = await close();
      this.leases.forget(reservationId);
      return answer;
    } catch (err) {
      if (err instanceof CountersUnavailableError) this.leases.closing(reservationId, this.oneLeaseFromNow());
      else this.leases.forget(reservationId);
      throw err;
    }
  }
}

class KeptRateLimits implements AsyncRateLimits {
  constructor(
    private readonly inner: AsyncRateLimits,
    private readonly leases: HeldLeases,
  ) {}

  async acquire(id: string, rules: RateLimitRule[], tokens: number, nowMs: number): Promise<Acquire> {
    const outcome = await this.inner.acquire(id, rules, tokens, nowMs);
    if (outcome.ok) this.leases.hold(id);
    return outcome;
  }

  // Nothing retries a rate limit close that failed: the slot must then free at its lease.
  settle(id: string, actualTokens: number, nowMs: number): Promise<boolean> {
    return this.closed(id, () => this.inner.settle(id, actualTokens, nowMs));
  }

  release(id: string): Promise<boolean> {
    return this.closed(id, () => this.inner.release(id));
  }

  cancel(id: string, nowMs: number): Promise<boolean> {
    return this.closed(id, () => this.inner.cancel(id, nowMs));
  }

  snapshot(rule: RateLimitRule, nowMs: number): Promise<RuleSnapshot> {
    return this.inner.snapshot(rule, nowMs);
  }

  openCount(): Promise<number> {
    return this.inner.openCount();
  }

  reap(nowMs: number, limit?: number): Promise<string[]> {
    return this.inner.reap(nowMs, limit);
  }

  renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number> {
    return this.inner.renew(ids, leaseExpiresAtMs);
  }

  private async closed(id: string, close: () => Promise<boolean>): Promise<boolean> {
    try {
      return await close();
    } finally {
      this.leases.forget(id);
    }
  }
}
