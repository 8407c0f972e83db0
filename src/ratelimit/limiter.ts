import {
  assertUnits,
  assertValidRule,
  binds,
  type Candidate,
  CONCURRENCY_RETRY_MS,
  shortfalls,
  view,
} from './decision.ts';
import { costOf, drain, msUntilFull, stillHeld } from './gcra.ts';
import type { Acquire, RateLimitRule, RateLimits, RuleSnapshot } from './types.ts';

/** What a client is told to wait when only a concurrency slot is missing: slots free on their own time. */
/** How often idle, fully refilled state is forgotten. */
const SWEEP_EVERY_MS = 60_000;

/** One rule scope's counters: a few numbers, forgotten once idle and full. */
interface ScopeState {
  requestLevel: number;
  tokenLevel: number;
  /** Time the levels were drained to. */
  atMs: number;
  /** Open acquisitions holding a concurrency slot. */
  open: number;
  /** When both levels reach empty if nothing else happens. */
  fullAtMs: number;
  /** Which life of this scope: a state forgotten and made again has drained all it held. */
  epoch: number;
  /** Everything ever given back, in level units: how far refunds moved open charges down the queue. */
  requestRefunded: number;
  tokenRefunded: number;
}

/** One rule's share of an open acquisition. */
interface HeldLine {
  key: string;
  /** The rule as it was when charged: a config reload does not change what is given back. */
  rule: RateLimitRule;
  atMs: number;
  tokens: number;
  /** Levels right after this call's charge, to tell how much of it is still held (FIFO). */
  requestEnd: number;
  tokenEnd: number;
  /** The scope's epoch and refund totals at the charge. */
  epoch: number;
  requestRefundedAt: number;
  tokenRefundedAt: number;
  holdsSlot: boolean;
}

/**
 * Embedded-mode rate limiter. Every method is synchronous, so with no `await` between reading
 * and writing, the single JS thread makes each acquisition atomic across all its rules.
 * The clock is always passed in: nothing here reads the time.
 *
 * Release keeps the charge on purpose: a call that was forwarded may have used the upstream's
 * capacity even when it failed or the client went away, and the estimate is the best we know.
 * Only `cancel` (the call never left the gateway) gives the request and tokens back.
 */
export class RateLimiter implements RateLimits {
  private readonly states = new Map<string, ScopeState>();
  private readonly open = new Map<string, HeldLine[]>();
  private lastSweepMs = Number.NEGATIVE_INFINITY;
  private epochs = 0;

  acquire(id: string, rules: RateLimitRule[], tokens: number, nowMs: number): Acquire {
    assertUnits(tokens, 'tokens');
    if (this.open.has(id)) throw new Error(`rate limit handle already open: ${id}`);
    const now = Math.floor(nowMs);
    this.maybeSweep(now);

    const lines: { key: string; rule: RateLimitRule; state: ScopeState }[] = [];
    const seen = new Set<string>();
    for (const rule of rules) {
      assertValidRule(rule);
      const key = stateKey(rule);
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push({ key, rule, state: this.drained(key, rule, now) });
    }

    // Check every rule before charging any: all or none.
    let bound: Candidate | null = null;
    for (const { rule, state } of lines) {
      for (const c of shortfalls(rule, state, tokens)) if (binds(c, bound)) bound = c;
    }
    if (bound) {
      return {
        ok: false,
        ruleId: bound.rule.id,
        scope: bound.rule.scope,
        unit: bound.unit,
        reason: bound.reason,
        retryAfterMs: bound.retryAfterMs,
        limit: bound.limit,
        requested: bound.requested,
        rules: lines.map(({ rule, state }) => view(rule, state)),
      };
    }

    const held: HeldLine[] = [];
    for (const { key, rule, state } of lines) {
      if (rule.rpm !== null) state.requestLevel += costOf(1);
      if (rule.tpm !== null) state.tokenLevel += costOf(tokens);
      if (rule.concurrency !== null) state.open += 1;
      state.fullAtMs = fullAt(rule, state);
      this.states.set(key, state);
      held.push({
        key,
        rule,
        atMs: now,
        tokens,
        requestEnd: state.requestLevel,
        tokenEnd: state.tokenLevel,
        epoch: state.epoch,
        requestRefundedAt: state.requestRefunded,
        tokenRefundedAt: state.tokenRefunded,
        holdsSlot: rule.concurrency !== null,
      });
    }
    this.open.set(id, held);
    return { ok: true, handleId: id, rules: lines.map(({ rule, state }) => view(rule, state)) };
  }

  settle(id: string, actualTokens: number, nowMs: number): boolean {
    assertUnits(actualTokens, 'actual tokens');
    const held = this.take(id);
    if (!held) return false;
    const now = Math.floor(nowMs);
    for (const line of held) {
      const state = this.drained(line.key, line.rule, now);
      const tpm = line.rule.tpm;
      if (tpm !== null) {
        if (actualTokens >= line.tokens) {
          // Usage beyond the estimate is charged now: the bucket may go past full and the debt drains.
          state.tokenLevel += costOf(actualTokens - line.tokens);
        } else {
          const refund = Math.min(costOf(line.tokens - actualTokens), heldTokens(line, state, tpm, now));
          giveBackTokens(state, refund);
        }
      }
      this.finishLine(line, state);
    }
    return true;
  }

  release(id: string): boolean {
    const held = this.take(id);
    if (!held) return false;
    for (const line of held) {
      const state = this.states.get(line.key);
      if (state) this.finishLine(line, state);
    }
    return true;
  }

  cancel(id: string, nowMs: number): boolean {
    const held = this.take(id);
    if (!held) return false;
    const now = Math.floor(nowMs);
    for (const line of held) {
      const state = this.drained(line.key, line.rule, now);
      const { rpm, tpm } = line.rule;
      if (rpm !== null) giveBackRequest(state, heldRequest(line, state, rpm, now));
      if (tpm !== null) giveBackTokens(state, heldTokens(line, state, tpm, now));
      this.finishLine(line, state);
    }
    return true;
  }

  snapshot(rule: RateLimitRule, nowMs: number): RuleSnapshot {
    assertValidRule(rule);
    const key = stateKey(rule);
    const current = this.states.get(key);
    // A copy: looking must not move the state.
    const state = this.drainedCopy(current, rule, Math.floor(nowMs));
    return view(rule, state);
  }

  openCount(): number {
    return this.open.size;
  }

  /** Scope states held in memory, to check that idle ones are forgotten. */
  stateCount(): number {
    return this.states.size;
  }

  /** Forgets scopes with no open call whose buckets are full again: they are equal to fresh ones. */
  sweep(nowMs: number): void {
    const now = Math.floor(nowMs);
    this.lastSweepMs = now;
    for (const [key, state] of this.states) {
      if (state.open === 0 && state.fullAtMs <= now) this.states.delete(key);
    }
  }

  private maybeSweep(now: number): void {
    if (now - this.lastSweepMs >= SWEEP_EVERY_MS) this.sweep(now);
  }

  private take(id: string): HeldLine[] | null {
    const held = this.open.get(id);
    if (!held) return null;
    this.open.delete(id);
    return held;
  }

  private finishLine(line: HeldLine, state: ScopeState): void {
    if (line.holdsSlot) state.open = Math.max(0, state.open - 1);
    state.fullAtMs = fullAt(line.rule, state);
    this.states.set(line.key, state);
  }

  /** The live state drained to `now` (or a fresh one, not yet stored). */
  private drained(key: string, rule: RateLimitRule, now: number): ScopeState {
    const state = this.states.get(key);
    if (!state) return freshState(now, ++this.epochs);
    const next = this.drainedCopy(state, rule, now);
    Object.assign(state, next);
    return state;
  }

  private drainedCopy(state: ScopeState | undefined, rule: RateLimitRule, now: number): ScopeState {
    if (!state) return freshState(now, 0);
    const elapsed = now - state.atMs;
    const next: ScopeState = {
      requestLevel: rule.rpm === null ? 0 : drain(state.requestLevel, rule.rpm, elapsed),
      tokenLevel: rule.tpm === null ? 0 : drain(state.tokenLevel, rule.tpm, elapsed),
      // A clock that steps back drains nothing rather than refilling twice later.
      atMs: Math.max(state.atMs, now),
      open: state.open,
      fullAtMs: state.fullAtMs,
      epoch: state.epoch,
      requestRefunded: state.requestRefunded,
      tokenRefunded: state.tokenRefunded,
    };
    next.fullAtMs = fullAt(rule, next);
    return next;
  }
}

function freshState(now: number, epoch: number): ScopeState {
  return {
    requestLevel: 0,
    tokenLevel: 0,
    atMs: now,
    open: 0,
    fullAtMs: now,
    epoch,
    requestRefunded: 0,
    tokenRefunded: 0,
  };
}

/** What of a line's request charge the scope still holds (none once the scope was forgotten). */
function heldRequest(line: HeldLine, state: ScopeState, rpm: number, now: number): number {
  if (state.epoch !== line.epoch) return 0;
  return stillHeld(
    line.requestEnd,
    costOf(1),
    rpm,
    now - line.atMs,
    state.requestRefunded - line.requestRefundedAt,
  );
}

function heldTokens(line: HeldLine, state: ScopeState, tpm: number, now: number): number {
  if (state.epoch !== line.epoch) return 0;
  return stillHeld(
    line.tokenEnd,
    costOf(line.tokens),
    tpm,
    now - line.atMs,
    state.tokenRefunded - line.tokenRefundedAt,
  );
}

function giveBackRequest(state: ScopeState, amount: number): void {
  const refund = Math.min(state.requestLevel, amount);
  state.requestLevel -= refund;
  state.requestRefunded += refund;
}

function giveBackTokens(state: ScopeState, amount: number): void {
  const refund = Math.min(state.tokenLevel, amount);
  state.tokenLevel -= refund;
  state.tokenRefunded += refund;
}

/** Scope is part of the key, so one rule id reused for another scope never shares counters. */
function stateKey(rule: RateLimitRule): string {
  return `${rule.id}\u0000${rule.scope.kind}\u0000${rule.scope.value}`;
}

function fullAt(rule: RateLimitRule, state: ScopeState): number {
  const requests = rule.rpm === null ? 0 : msUntilFull(state.requestLevel, rule.rpm);
  const tokens = rule.tpm === null ? 0 : msUntilFull(state.tokenLevel, rule.tpm);
  return state.atMs + Math.max(requests, tokens);
}

export { CONCURRENCY_RETRY_MS };
