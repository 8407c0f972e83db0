import type { Nanos } from '../money.ts';

/** Dimensions a budget policy can select on. An absent field matches anything. */
export interface Selector {
  org?: string;
  team?: string;
  project?: string;
  env?: string;
  key?: string;
  user?: string;
  feature?: string;
  model?: string;
  provider?: string;
}

export type SelectorField = keyof Selector;

export type WindowSpec =
  | { kind: 'calendar'; every: 'day' | 'week' | 'month' | 'year'; tz: string }
  | {
      kind: 'rolling';
      sizeMs: number;
      /** Bucket width; the size is a whole multiple of it. */
      bucketMs: number;
    };

export interface Limits {
  usdNanos: Nanos | null;
  tokens: number | null;
  requests: number | null;
}

export type BudgetMode = 'hard' | 'soft';

/**
 * What a hard budget does while the shared counter store (cluster mode: Redis) cannot answer:
 * refuse (`closed`, 503) or admit against a per-replica USD allowance for the outage (`open`).
 */
export type StoreDownPolicy = { mode: 'closed' } | { mode: 'open'; allowanceNanos: Nanos };
export type OnExhausted = 'deny' | 'queue' | 'reroute';

export interface BudgetPolicy {
  id: string;
  match: Selector;
  limit: Limits;
  window: WindowSpec;
  mode: BudgetMode;
  /** Fractions of the limit at which alerts fire, e.g. [0.5, 0.8, 1]. */
  alerts: number[];
  /** Allow rewriting max output tokens so a call that does not fit at worst case can still run. */
  clamp: boolean;
  degrade: { at: number; to: string } | null;
  onExhausted: OnExhausted;
  /** Absent: closed. */
  storeDown?: StoreDownPolicy;
}

/** An amount of spend in every limited unit. */
export interface Amount {
  nanos: Nanos;
  tokens: number;
  requests: number;
}

export const ZERO_AMOUNT: Amount = { nanos: 0, tokens: 0, requests: 0 };

/** One policy's current window, as seen at time `now`. */
export interface WindowBounds {
  /** Stable id of the current window (calendar: its start ms; rolling: 'rolling'). */
  id: string;
  startMs: number;
  /** Exclusive end (calendar) or now (rolling). */
  endMs: number;
  /** When the next spend falls out / the window resets; null if it never frees anything. */
  resetsAtMs: number | null;
}

export interface PolicyState {
  policyId: string;
  window: WindowBounds;
  spent: Amount;
  /** Sum of open reservations against this policy: the in-flight exposure. */
  reserved: Amount;
}

export interface ReserveLine {
  policy: BudgetPolicy;
  amount: Amount;
}

/** What a policy still has (limit - spent - reserved, floored at 0), per unit; null = unlimited. */
export interface Remaining {
  nanos: Nanos | null;
  tokens: number | null;
  requests: number | null;
}

export type ReserveOutcome =
  | { ok: true; reservationId: string }
  | {
      ok: false;
      /** First hard policy that does not fit. */
      policyId: string;
      /** What that policy still has (limit - spent - reserved), per unit; null = unlimited. */
      remaining: Remaining;
      /** Time when the binding window frees budget, if any. */
      resetsAtMs: number | null;
    };

/**
 * The atomic counter store. Implementations: in-process (embedded, synchronous) and, later,
 * Redis (one Lua script). `reserve` is all-or-none over its lines: either every hard policy
 * fits and all lines are reserved, or nothing changes.
 */
export interface BudgetCounters {
  reserve(reservationId: string, lines: ReserveLine[], nowMs: number): ReserveOutcome;
  /**
   * Moves a reservation to spent at `actual` (booked in the window of the reservation's time)
   * and frees the rest. Idempotent by reservation id: a second call is a no-op returning false.
   */
  settle(reservationId: string, actual: Amount): boolean;
  /** Frees a reservation without spend. Idempotent; returns false if already closed. */
  release(reservationId: string): boolean;
  /** Adds already-settled spend (e.g. replayed from the ledger at startup). */
  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): void;
  state(policy: BudgetPolicy, nowMs: number): PolicyState;
  /** Number of open reservations, for leak checks. */
  openReservations(): number;
}

/**
 * `BudgetCounters` for a store that answers over the network (cluster mode: Redis). Same
 * contract, results as promises, plus the lease reaper. Every method may reject with
 * `CountersUnavailableError` when the store cannot decide; hard budgets then fail closed.
 */
export interface AsyncBudgetCounters {
  /** All or none over the lines, atomically across every replica sharing the store. */
  reserve(reservationId: string, lines: ReserveLine[], nowMs: number): Promise<ReserveOutcome>;
  /** Books `actual` on every line (in the window of the reservation's time), frees the rest. Idempotent. */
  settle(reservationId: string, actual: Amount): Promise<boolean>;
  /** Frees a reservation without spend. Idempotent; false if already closed. */
  release(reservationId: string): Promise<boolean>;
  /** Adds already-settled spend (ledger replay). */
  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): Promise<void>;
  /** Settled spend and open reservations of the policy's window at `nowMs`. */
  state(policy: BudgetPolicy, nowMs: number): Promise<PolicyState>;
  /** Open reservations (in Redis: of every replica), for leak checks. */
  openReservations(): Promise<number>;
  /**
   * Settles reservations whose lease expired at or before `nowMs` at their reserved amount,
   * each exactly once even when several replicas reap at the same time. Returns what it settled,
   * at most `limit`, so the caller can flag the ledger rows; call again until it returns [].
   */
  reap(nowMs: number, limit?: number): Promise<ReapedReservation[]>;
  /**
   * Moves the lease of each still-open reservation to `leaseExpiresAtMs` (never earlier than it
   * already is), so a call running longer than a lease is not reaped. A closed or reaped id stays
   * closed. Returns how many were still open.
   */
  renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number>;
  /** True when the reservation was admitted on a local fail-open allowance (shared store down). */
  admittedLocally?(reservationId: string): boolean;
}

/** A reservation the reaper settled at its reserved amount. */
export interface ReapedReservation {
  reservationId: string;
  /** When it was reserved: the spend is booked in that window. */
  reservedAtMs: number;
  leaseExpiredAtMs: number;
  /** What was booked on each policy (its reserved amount). */
  lines: Array<{ policyId: string; amount: Amount }>;
}
