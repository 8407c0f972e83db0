import type { BudgetPolicy } from '../../budget/types.ts';
import { windowFingerprint } from '../../budget/windows.ts';

/**
 * Key layout of the budget counters under one prefix. Put a hash tag in the prefix
 * (the default `tollgate:{budgets}`) so every key lands in one Redis Cluster slot: the scripts
 * touch keys found inside reservation records, which only works when they share the slot.
 *
 *   <p>:seeded                    string  set once the counters hold the ledger's state
 *   <p>:seeding                   string  lock (token) of the replica rebuilding them
 *   <p>:leases                    zset    reservation id -> lease expiry (ms)
 *   <p>:res:<id>                  string  reservation record (JSON: lines, amounts, slot keys)
 *   <p>:reserved:<policy>         hash    n / t / r: open reservations (nanos, tokens, requests)
 *   <p>:spent:<policy>:<slotMs>   hash    n / t / r: settled spend of one slot, with a TTL
 *   <p>:win:<policy>              hash    rolling windows: n / t / r summed over slots f..l, and
 *                                         o, the oldest of them holding spend (-1: none); a TTL
 *
 * `<policy>` is the policy id plus its window fingerprint, as in memory: a policy whose window
 * changes starts fresh, a changed limit keeps its spend.
 *
 * The scripts build `spent` and `win` names themselves (budgetScripts.ts: slotKey,
 * runningSumKey) and parse rolling `spent` names back: change the layout in both places.
 * `win` keys came after the others: a store without them (an older deployment, a rebuild) gets
 * them derived from the slots on first read, so there is no migration.
 */
export class BudgetKeys {
  readonly seeded: string;
  readonly seeding: string;
  readonly leases: string;
  readonly reservationPrefix: string;

  constructor(readonly prefix: string) {
    this.seeded = `${prefix}:seeded`;
    this.seeding = `${prefix}:seeding`;
    this.leases = `${prefix}:leases`;
    this.reservationPrefix = `${prefix}:res:`;
  }

  reservation(id: string): string {
    return this.reservationPrefix + id;
  }

  reserved(policyKey: string): string {
    return `${this.prefix}:reserved:${policyKey}`;
  }

  spent(policyKey: string, slotMs: number): string {
    return `${this.prefix}:spent:${policyKey}:${slotMs}`;
  }

  /** Running sum of a rolling window's slots (kept by the scripts, never written from here). */
  runningSum(policyKey: string): string {
    return `${this.prefix}:win:${policyKey}`;
  }

  /** Glob for every key of this store, for the wipe before a rebuild. */
  pattern(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}:*`;
  }
}

/** Policy id (escaped, so ids cannot collide or form hash tags) plus window fingerprint. */
export function policyKey(policy: BudgetPolicy): string {
  return `${encodeURIComponent(policy.id)}|${windowFingerprint(policy.window)}`;
}
