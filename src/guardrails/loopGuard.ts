import type { Nanos } from '../money.ts';
import type { Guardrail, LoopCap } from './rules.ts';

interface Tally {
  /** Start of this tally's window: the first call of the request/session. */
  startMs: number;
  calls: number;
  spent: Nanos;
  reserved: Nanos;
}

export interface LoopHold {
  /** Tallies this call is counted in, with the amount it holds on each. */
  lines: { tally: Tally; nanos: Nanos }[];
}

export type LoopVerdict =
  | { ok: true; hold: LoopHold }
  | { ok: false; ruleId: string; scope: 'request' | 'session'; message: string; retryAfterMs: number };

/**
 * Caps on the calls that share a request_id or session_id: an agent loop of many steps is one
 * user action, and it can be stopped at N calls or $X like a budget — reserved before the call
 * (so concurrent steps cannot overshoot) and settled on the real cost. Synchronous, in memory.
 */
export class LoopGuard {
  private readonly tallies = new Map<string, Tally>();
  private lastSweepMs = 0;

  constructor(private readonly maxEntries = 200_000) {}

  admit(
    rules: readonly Guardrail[],
    ids: { requestId: string | null; sessionId: string | null },
    worstNanos: Nanos,
    nowMs: number,
  ): LoopVerdict {
    const lines: { cap: LoopCap; key: string; rule: Guardrail; scope: 'request' | 'session' }[] = [];
    for (const rule of rules) {
      if (rule.perRequest && ids.requestId)
        lines.push({
          cap: rule.perRequest,
          key: `${rule.id}\u0000r\u0000${ids.requestId}`,
          rule,
          scope: 'request',
        });
      if (rule.perSession && ids.sessionId)
        lines.push({
          cap: rule.perSession,
          key: `${rule.id}\u0000s\u0000${ids.sessionId}`,
          rule,
          scope: 'session',
        });
    }
    if (lines.length === 0) return { ok: true, hold: { lines: [] } };
    this.sweep(nowMs);
    const tallies = lines.map((l) => this.tally(l.key, l.cap, nowMs));
    for (let i = 0; i < lines.length; i++) {
      const { cap, rule, scope } = lines[i]!;
      const t = tallies[i]!;
      const retryAfterMs = Math.max(0, t.startMs + cap.windowMs - nowMs);
      const id = scope === 'request' ? ids.requestId : ids.sessionId;
      if (cap.maxCalls !== null && t.calls + 1 > cap.maxCalls) {
        return {
          ok: false,
          ruleId: rule.id,
          scope,
          retryAfterMs,
          message: `The ${scope} '${id}' has made ${t.calls} calls; guardrail '${rule.id}' allows ${cap.maxCalls} per ${cap.windowMs / 1000}s.`,
        };
      }
      if (cap.maxNanos !== null && t.spent + t.reserved + worstNanos > cap.maxNanos) {
        return {
          ok: false,
          ruleId: rule.id,
          scope,
          retryAfterMs,
          message: `The ${scope} '${id}' cannot afford this call's worst case under guardrail '${rule.id}' (cap per ${cap.windowMs / 1000}s).`,
        };
      }
    }
    const hold: LoopHold = { lines: [] };
    for (const t of tallies) {
      t.calls += 1;
      t.reserved += worstNanos;
      hold.lines.push({ tally: t, nanos: worstNanos });
    }
    return { ok: true, hold };
  }

  /** Replaces the held worst case with the real cost. Call once per admitted hold. */
  settle(hold: LoopHold, actual: Nanos): void {
    for (const line of hold.lines) {
      line.tally.reserved -= line.nanos;
      line.tally.spent += actual;
    }
    hold.lines = [];
  }

  size(): number {
    return this.tallies.size;
  }

  private tally(key: string, cap: LoopCap, nowMs: number): Tally {
    let t = this.tallies.get(key);
    if (t && nowMs - t.startMs >= cap.windowMs && t.reserved === 0) {
      this.tallies.delete(key);
      t = undefined;
    }
    if (!t) {
      t = { startMs: nowMs, calls: 0, spent: 0, reserved: 0 };
      this.tallies.set(key, t);
    }
    return t;
  }

  /** Bounded memory: forget finished tallies older than a day, or the oldest when over the cap. */
  private sweep(nowMs: number): void {
    if (this.tallies.size < this.maxEntries && nowMs - this.lastSweepMs < 60_000) return;
    this.lastSweepMs = nowMs;
    for (const [k, t] of this.tallies) {
      if (t.reserved === 0 && (nowMs - t.startMs > 86_400_000 || this.tallies.size >= this.maxEntries))
        this.tallies.delete(k);
    }
  }
}
