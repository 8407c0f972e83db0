import { copyAmount } from '../../budget/amount.ts';
import type { BudgetCounters, ReserveLine } from '../../budget/types.ts';
import type { RateLimits } from '../../ratelimit/types.ts';
import type { AsyncBudgetCounters, AsyncRateLimits, ReapedReservation } from './types.ts';

export interface FromSyncOptions {
  /** Lease of a reservation / acquisition before `reap` closes it (default 15 min, the ledger's). */
  leaseMs?: number;
}

const DEFAULT_LEASE_MS = 15 * 60_000;

interface Held {
  atMs: number;
  leaseExpiresAtMs: number;
  lines: ReserveLine[];
}

/**
 * The synchronous in-memory counters behind the async interface, so one contract suite runs
 * against both stores. Each call still runs synchronously inside its promise, so the memory
 * store's atomicity (no await between read and write) is untouched.
 *
 * The lease is tracked here (`renew` moves it): `reap` releases an expired reservation and books
 * each line's reserved amount in the slot of its reservation time, as settling it would.
 */
export function fromSync(counters: BudgetCounters, options: FromSyncOptions = {}): AsyncBudgetCounters {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const held = new Map<string, Held>();
  return {
    async reserve(reservationId, lines, nowMs) {
      const outcome = counters.reserve(reservationId, lines, nowMs);
      if (outcome.ok) {
        held.set(reservationId, {
          atMs: nowMs,
          leaseExpiresAtMs: nowMs + leaseMs,
          lines: lines.map((l) => ({ policy: l.policy, amount: copyAmount(l.amount) })),
        });
      }
      return outcome;
    },
    async settle(reservationId, actual) {
      const closed = counters.settle(reservationId, actual);
      held.delete(reservationId);
      return closed;
    },
    async release(reservationId) {
      held.delete(reservationId);
      return counters.release(reservationId);
    },
    async addSpent(policy, amount, atMs) {
      counters.addSpent(policy, amount, atMs);
    },
    async state(policy, nowMs) {
      return counters.state(policy, nowMs);
    },
    async openReservations() {
      return counters.openReservations();
    },
    async reap(nowMs, limit = 100) {
      const reaped: ReapedReservation[] = [];
      for (const [reservationId, { atMs, leaseExpiresAtMs, lines }] of held) {
        if (reaped.length >= limit) break;
        if (leaseExpiresAtMs > nowMs) continue;
        held.delete(reservationId);
        if (!counters.release(reservationId)) continue;
        for (const { policy, amount } of lines) counters.addSpent(policy, amount, atMs);
        reaped.push({
          reservationId,
          reservedAtMs: atMs,
          leaseExpiredAtMs: leaseExpiresAtMs,
          lines: lines.map(({ policy, amount }) => ({ policyId: policy.id, amount: copyAmount(amount) })),
        });
      }
      return reaped;
    },
    async renew(ids, leaseExpiresAtMs) {
      let open = 0;
      for (const id of ids) {
        const reservation = held.get(id);
        if (!reservation) continue;
        open++;
        reservation.leaseExpiresAtMs = Math.max(reservation.leaseExpiresAtMs, leaseExpiresAtMs);
      }
      return open;
    },
  };
}

/** The in-memory rate limiter behind the async interface, with leases tracked here for `reap`. */
export function fromSyncRateLimits(limits: RateLimits, options: FromSyncOptions = {}): AsyncRateLimits {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  /** Open handle id -> lease expiry. */
  const leases = new Map<string, number>();
  return {
    async acquire(id, rules, tokens, nowMs) {
      const outcome = limits.acquire(id, rules, tokens, nowMs);
      if (outcome.ok) leases.set(id, nowMs + leaseMs);
      return outcome;
    },
    async settle(id, actualTokens, nowMs) {
      const closed = limits.settle(id, actualTokens, nowMs);
      leases.delete(id);
      return closed;
    },
    async release(id) {
      leases.delete(id);
      return limits.release(id);
    },
    async cancel(id, nowMs) {
      leases.delete(id);
      return limits.cancel(id, nowMs);
    },
    async snapshot(rule, nowMs) {
      return limits.snapshot(rule, nowMs);
    },
    async openCount() {
      return limits.openCount();
    },
    async reap(nowMs, limit = 100) {
      const reaped: string[] = [];
      for (const [id, expiresAtMs] of leases) {
        if (reaped.length >= limit) break;
        if (expiresAtMs > nowMs) continue;
        leases.delete(id);
        if (limits.release(id)) reaped.push(id);
      }
      return reaped;
    },
    async renew(ids, leaseExpiresAtMs) {
      let open = 0;
      for (const id of ids) {
        const expiresAtMs = leases.get(id);
        if (expiresAtMs === undefined) continue;
        open++;
        leases.set(id, Math.max(expiresAtMs, leaseExpiresAtMs));
      }
      return open;
    },
  };
}
