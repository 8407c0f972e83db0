import { addInto, copyAmount, isZeroAmount, zeroAmount } from '../../budget/amount.ts';
import type { Amount, WindowBounds, WindowSpec } from '../../budget/types.ts';
import {
  bucketStart,
  type CalendarWindowSpec,
  currentWindow,
  type RollingWindowSpec,
  rollingBucketExpiresAt,
} from '../../budget/windows.ts';

/**
 * Settled spend of one policy, sliced into slots (a calendar window, or a rolling bucket),
 * plus what is reserved against it right now. One instance per policy id + window spec.
 */
export interface WindowedSpend {
  /** Sum of open reservations; mutated in place by the counters. */
  readonly reserved: Amount;
  /** The window at `nowMs`, with resetsAtMs refined to when spend actually frees up. */
  window(nowMs: number): WindowBounds;
  /** The slot spend made at `atMs` belongs to. */
  slotAt(atMs: number): number;
  /** Settled spend counted in the window at `nowMs` (a fresh object). */
  spent(nowMs: number): Amount;
  book(slot: number, amount: Amount): void;
}

export function createWindowedSpend(spec: WindowSpec): WindowedSpend {
  return spec.kind === 'calendar' ? new CalendarSpend(spec) : new RollingSpend(spec);
}

/** Old calendar windows kept: the current one plus a few back, for late settles and replays. */
const CALENDAR_WINDOWS_KEPT = 4;

class CalendarSpend implements WindowedSpend {
  readonly reserved = zeroAmount();
  private readonly byWindowStart = new Map<number, Amount>();
  /** Window boundaries cost a few Intl calls; almost every call lands in the cached one. */
  private cached: WindowBounds | null = null;

  constructor(private readonly spec: CalendarWindowSpec) {}

  window(nowMs: number): WindowBounds {
    const cached = this.cached;
    if (cached && nowMs >= cached.startMs && nowMs < cached.endMs) return cached;
    const fresh = currentWindow(this.spec, nowMs);
    this.cached = fresh;
    return fresh;
  }

  slotAt(atMs: number): number {
    return this.window(atMs).startMs;
  }

  spent(nowMs: number): Amount {
    const slot = this.byWindowStart.get(this.window(nowMs).startMs);
    return slot ? copyAmount(slot) : zeroAmount();
  }

  book(slot: number, amount: Amount): void {
    const existing = this.byWindowStart.get(slot);
    if (existing) {
      addInto(existing, amount);
      return;
    }
    this.byWindowStart.set(slot, copyAmount(amount));
    if (this.byWindowStart.size > CALENDAR_WINDOWS_KEPT) {
      this.byWindowStart.delete(Math.min(...this.byWindowStart.keys()));
    }
  }
}

class RollingSpend implements WindowedSpend {
  readonly reserved = zeroAmount();
  private readonly byBucketStart = new Map<number, Amount>();

  constructor(private readonly spec: RollingWindowSpec) {}

  window(nowMs: number): WindowBounds {
    const bounds = currentWindow(this.spec, nowMs);
    return { ...bounds, resetsAtMs: rollingBucketExpiresAt(this.spec, this.oldestSpendBucket(bounds)) };
  }

  slotAt(atMs: number): number {
    return bucketStart(this.spec, atMs);
  }

  spent(nowMs: number): Amount {
    const { startMs } = currentWindow(this.spec, nowMs);
    // Buckets a whole window older than the current one are dropped. The extra window of
    // slack keeps spend if the wall clock steps back a little (NTP), rather than losing it.
    const pruneBefore = startMs - this.spec.sizeMs;
    const total = zeroAmount();
    for (const [bucket, amount] of this.byBucketStart) {
      if (bucket < pruneBefore) this.byBucketStart.delete(bucket);
      else if (bucket >= startMs && bucket <= nowMs) addInto(total, amount);
    }
    return total;
  }

  book(slot: number, amount: Amount): void {
    const existing = this.byBucketStart.get(slot);
    if (existing) addInto(existing, amount);
    else this.byBucketStart.set(slot, copyAmount(amount));
  }

  private oldestSpendBucket(bounds: WindowBounds): number | null {
    let oldest: number | null = null;
    for (const [bucket, amount] of this.byBucketStart) {
      if (bucket < bounds.startMs || bucket > bounds.endMs || isZeroAmount(amount)) continue;
      if (oldest === null || bucket < oldest) oldest = bucket;
    }
    return oldest;
  }
}
