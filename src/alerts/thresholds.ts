import { fitsWithin, usedFraction } from '../budget/plan.ts';
import { type Amount, type BudgetPolicy, type WindowBounds, ZERO_AMOUNT } from '../budget/types.ts';

/**
 * PURE: which alert thresholds a policy has newly crossed. No I/O; the dispatcher persists
 * what this decides.
 */

export type AlertReason = 'spend' | 'denied';

/** One fired alert: each (policy, window, threshold) fires once. */
export interface FiredKey {
  policyId: string;
  windowId: string;
  threshold: number;
}

/** usedFraction reads neither the window nor reservations when reservations are excluded. */
const ANY_WINDOW: WindowBounds = { id: '', startMs: 0, endMs: 0, resetsAtMs: null };

/** Fraction of the limit spent (settled spend only), the most-used limited unit winning. */
export function spentFraction(policy: BudgetPolicy, spent: Amount): number {
  return usedFraction(
    policy,
    { policyId: policy.id, window: ANY_WINDOW, spent, reserved: ZERO_AMOUNT },
    false,
  );
}

/**
 * The window an alert belongs to. Calendar windows have their own id. A rolling window never
 * resets (its id is always 'rolling'), so alerts are scoped to consecutive blocks of the
 * window's size: a budget that stays hot re-alerts at most once per window length.
 */
export function alertWindowId(policy: BudgetPolicy, window: WindowBounds): string {
  if (policy.window.kind === 'calendar') return window.id;
  const size = policy.window.sizeMs;
  return `rolling:${Math.floor(window.endMs / size) * size}`;
}

/**
 * Whether a hard policy that denied a call is exhausted — the condition for observing the denial
 * as reaching 100%: its settled spend leaves less than the smallest useful call in some limited
 * unit. In-flight reservations do not count: they may still be released, so a budget tied up by
 * them is not spent, and a large call refused at 20% spend is not an exhausted budget either.
 */
export function isExhausted(policy: BudgetPolicy, spent: Amount, smallestCall: Amount): boolean {
  return policy.mode === 'hard' && !fitsWithin(policy.limit, spent, ZERO_AMOUNT, smallestCall);
}

/** Thresholds at or below `fraction`, ascending. */
export function thresholdsReached(policy: BudgetPolicy, fraction: number): number[] {
  return policy.alerts.filter((t) => fraction >= t).sort((a, b) => a - b);
}

/** How many windows per policy stay in memory; older ones are left to the store's UNIQUE key. */
const WINDOWS_KEPT_PER_POLICY = 8;

/**
 * The fired set. `crossed` and `crossedOnDenial` return a threshold only the first time and
 * mark it in the same synchronous call, so however many calls race on the single JS thread,
 * each (policy, window, threshold) is handed out once.
 */
export class FiredSet {
  /** policy id → window id → fired thresholds; a window map keeps insertion order for pruning. */
  private readonly byPolicy = new Map<string, Map<string, Set<number>>>();

  constructor(keys: Iterable<FiredKey> = []) {
    for (const k of keys) this.mark(k.policyId, k.windowId, k.threshold);
  }

  has(policyId: string, windowId: string, threshold: number): boolean {
    return this.byPolicy.get(policyId)?.get(windowId)?.has(threshold) ?? false;
  }

  /** Marks a threshold fired; false if it already was. */
  mark(policyId: string, windowId: string, threshold: number): boolean {
    let windows = this.byPolicy.get(policyId);
    if (!windows) {
      windows = new Map();
      this.byPolicy.set(policyId, windows);
    }
    let fired = windows.get(windowId);
    if (!fired) {
      fired = new Set();
      windows.set(windowId, fired);
      if (windows.size > WINDOWS_KEPT_PER_POLICY) {
        const oldest = windows.keys().next().value;
        if (oldest !== undefined) windows.delete(oldest);
      }
    }
    if (fired.has(threshold)) return false;
    fired.add(threshold);
    return true;
  }

  /** Thresholds newly crossed by `spent` in this window, marked fired. */
  crossed(policy: BudgetPolicy, spent: Amount, windowId: string): readonly number[] {
    return this.claim(policy, windowId, spentFraction(policy, spent));
  }

  /**
   * A hard budget denied a call because it is exhausted. Clamping lets spend stop just short of
   * the limit, so the denial itself is the proof of reaching 100%: every unfired threshold up to
   * 1 fires. Thresholds above 1 do not — a denial says nothing about overshoot. Soft budgets
   * never deny, so for them this returns nothing.
   */
  crossedOnDenial(policy: BudgetPolicy, windowId: string): readonly number[] {
    if (policy.mode !== 'hard') return [];
    return this.claim(policy, windowId, 1);
  }

  /** Number of fired keys held in memory. */
  size(): number {
    let n = 0;
    for (const windows of this.byPolicy.values()) for (const fired of windows.values()) n += fired.size;
    return n;
  }

  private claim(policy: BudgetPolicy, windowId: string, fraction: number): readonly number[] {
    let out: number[] | null = null;
    for (const t of policy.alerts) {
      // The common case (nothing new) allocates nothing: compare first, then look up.
      if (fraction >= t && this.mark(policy.id, windowId, t)) {
        out ??= [];
        out.push(t);
      }
    }
    return out === null ? NOTHING : out.sort((a, b) => a - b);
  }
}

const NOTHING: readonly number[] = Object.freeze([]);
