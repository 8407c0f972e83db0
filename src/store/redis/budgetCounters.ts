import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { addInto, assertValidAmount, copyAmount } from '../../budget/amount.ts';
import { remainingOf } from '../../budget/plan.ts';
import type { Amount, BudgetPolicy, PolicyState, ReserveLine, ReserveOutcome } from '../../budget/types.ts';
import { BudgetKeys, policyKey } from './budgetKeys.ts';
import {
  ADD_SPENT,
  REAP,
  RELEASE,
  RENEW,
  RESERVE,
  SEED_ABANDON,
  SEED_FINISH,
  SEED_RESERVATION,
  SEED_SPENT,
  SETTLE,
  STATE,
} from './budgetScripts.ts';
import { guarded, integer, integers, strings } from './luaScript.ts';
import type { AsyncBudgetCounters, ReapedReservation } from './types.ts';
import { WindowPlanner, windowArgs } from './windowSlots.ts';

export interface RedisBudgetCountersOptions {
  /** Key prefix; keep a hash tag in it (default `tollgate:{budgets}`), see BudgetKeys. */
  prefix?: string;
  /** How long a reservation may stay open before the reaper settles it at its reserved amount. */
  leaseMs: number;
}

/** Receives the ledger's state while the counters are rebuilt (see `seed`). */
export interface SeedSink {
  /** A settled ledger row's spend, booked in the slot of its start time. */
  addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): Promise<void>;
  /** A pending ledger row: the call is still running, its reservation must be there to settle. */
  restoreReservation(
    reservationId: string,
    lines: ReserveLine[],
    reservedAtMs: number,
    leaseExpiresAtMs: number,
  ): Promise<void>;
}

export type SeedOutcome = 'seeded' | 'already_seeded' | 'busy';

/** How long a rebuild may go without writing before another replica may take it over. */
const SEED_LOCK_MS = 30_000;
const DEFAULT_REAP_LIMIT = 100;

interface MergedLine {
  key: string;
  policy: BudgetPolicy;
  amount: Amount;
}

interface RecordJson {
  at: string;
  exp: string;
  lines: Array<{ p: string; a: [string, string, string] }>;
}

/**
 * Cluster-mode budget counters in Redis. One script per operation, each atomic for every
 * replica: reserve checks all hard lines then writes all (or nothing), settle and release close
 * a reservation exactly once, the reaper settles expired leases at their reserved amount.
 * Window math (which slots make up a window) is done here and passed in as numbers; the scripts
 * name the slots and keep a running sum per rolling window, so a call reads O(1) slots.
 *
 * Counters that lost their data (Redis restarted empty) refuse every call as `not_seeded` until
 * one replica rebuilds them from the ledger with `seed`: counting from zero would let spend
 * past the caps.
 */
export class RedisBudgetCounters implements AsyncBudgetCounters {
  private readonly keys: BudgetKeys;
  private readonly leaseMs: number;
  private readonly windows = new WindowPlanner();
  /** Reservations with no policy: nothing shared to count, so they never wait on Redis. */
  private readonly unbudgeted = new Set<string>();

  constructor(
    private readonly client: Redis,
    options: RedisBudgetCountersOptions,
  ) {
    if (!Number.isSafeInteger(options.leaseMs) || options.leaseMs <= 0) {
      throw new RangeError(`lease must be a positive number of ms, got ${options.leaseMs}`);
    }
    this.keys = new BudgetKeys(options.prefix ?? 'tollgate:{budgets}');
    this.leaseMs = options.leaseMs;
  }

  async reserve(reservationId: string, lines: ReserveLine[], nowMs: number): Promise<ReserveOutcome> {
    if (this.unbudgeted.has(reservationId)) throw new Error(`reservation id already open: ${reservationId}`);
    const merged = mergeLines(lines);
    if (merged.length === 0) {
      this.unbudgeted.add(reservationId);
      return { ok: true, reservationId };
    }
    const keys = [this.keys.seeded, this.keys.reservation(reservationId), this.keys.leases];
    const args: Array<string | number> = [
      reservationId,
      nowMs,
      nowMs + this.leaseMs,
      merged.length,
      this.keys.prefix,
    ];
    const plans = merged.map(({ key, policy, amount }) => {
      // Soft lines never block: the script does not read their window.
      const hard = policy.mode === 'hard';
      const plan = this.windows.plan(key, policy.window, nowMs);
      const booking = this.windows.booking(key, policy.window, nowMs);
      keys.push(this.keys.reserved(key), this.keys.spent(key, booking.slot));
      const { usdNanos, tokens, requests } = policy.limit;
      args.push(policy.id, hard ? '1' : '0', cap(usdNanos), cap(tokens), cap(requests));
      args.push(...amountArgs(amount), booking.keepMs, ...windowArgs(key, policy.window, plan));
      return plan;
    });
    const reply = integers(await RESERVE.run(this.client, keys, args), 'budget reserve');
    if (reply[0] === 1) return { ok: true, reservationId };

    const [, lineNo = 0, sn = 0, st = 0, sr = 0, rn = 0, rt = 0, rr = 0, oldest = -1] = reply;
    const line = merged[lineNo - 1];
    const plan = plans[lineNo - 1];
    if (!line || !plan) throw new Error(`budget reserve: reply names unknown line ${lineNo}`);
    const spent = { nanos: sn, tokens: st, requests: sr };
    const reserved = { nanos: rn, tokens: rt, requests: rr };
    return {
      ok: false,
      policyId: line.policy.id,
      remaining: remainingOf(line.policy.limit, spent, reserved),
      resetsAtMs: this.windows.resetsAt(line.policy.window, plan, oldest < 0 ? null : oldest),
    };
  }

  async settle(reservationId: string, actual: Amount): Promise<boolean> {
    assertValidAmount(actual, 'settled amount');
    if (this.unbudgeted.delete(reservationId)) return true;
    const reply = await SETTLE.run(this.client, this.closeKeys(reservationId), [
      reservationId,
      ...amountArgs(actual),
    ]);
    return integer(reply, 'budget settle') === 1;
  }

  async release(reservationId: string): Promise<boolean> {
    if (this.unbudgeted.delete(reservationId)) return true;
    const reply = await RELEASE.run(this.client, this.closeKeys(reservationId), [reservationId]);
    return integer(reply, 'budget release') === 1;
  }

  async addSpent(policy: BudgetPolicy, amount: Amount, atMs: number): Promise<void> {
    assertValidAmount(amount, `spend for ${policy.id}`);
    const key = policyKey(policy);
    const booking = this.windows.booking(key, policy.window, atMs);
    await ADD_SPENT.run(
      this.client,
      [this.keys.seeded, this.keys.spent(key, booking.slot)],
      [...amountArgs(amount), booking.keepMs],
    );
  }

  async state(policy: BudgetPolicy, nowMs: number): Promise<PolicyState> {
    const key = policyKey(policy);
    const plan = this.windows.plan(key, policy.window, nowMs);
    const [sn = 0, st = 0, sr = 0, rn = 0, rt = 0, rr = 0, oldest = -1] = integers(
      await STATE.run(
        this.client,
        [this.keys.seeded, this.keys.reserved(key)],
        [this.keys.prefix, ...windowArgs(key, policy.window, plan)],
      ),
      'budget state',
    );
    return {
      policyId: policy.id,
      window: {
        ...plan.bounds,
        resetsAtMs: this.windows.resetsAt(policy.window, plan, oldest < 0 ? null : oldest),
      },
      spent: { nanos: sn, tokens: st, requests: sr },
      reserved: { nanos: rn, tokens: rt, requests: rr },
    };
  }

  async openReservations(): Promise<number> {
    const shared = await guarded('budget open reservations', () => this.client.zcard(this.keys.leases));
    return shared + this.unbudgeted.size;
  }

  async reap(nowMs: number, limit = DEFAULT_REAP_LIMIT): Promise<ReapedReservation[]> {
    const reply = strings(
      await REAP.run(
        this.client,
        [this.keys.seeded, this.keys.leases],
        [nowMs, limit, this.keys.reservationPrefix],
      ),
      'budget reap',
    );
    const reaped: ReapedReservation[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      reaped.push(parseReaped(reply[i] ?? '', reply[i + 1] ?? ''));
    }
    return reaped;
  }

  async renew(ids: readonly string[], leaseExpiresAtMs: number): Promise<number> {
    // Unbudgeted reservations live only here and have no lease to extend.
    const shared = ids.filter((id) => !this.unbudgeted.has(id));
    const local = ids.length - shared.length;
    if (shared.length === 0) return local;
    const reply = await RENEW.run(
      this.client,
      [this.keys.seeded, this.keys.leases],
      [Math.floor(leaseExpiresAtMs), this.keys.reservationPrefix, ...shared],
    );
    return local + integer(reply, 'budget renew');
  }

  /** True once the counters hold the ledger's state (always, after a successful `seed`). */
  async isSeeded(): Promise<boolean> {
    return (await guarded('budget seeded', () => this.client.exists(this.keys.seeded))) === 1;
  }

  /**
   * Rebuilds the shared counters from the ledger when they are empty: at the first start of a
   * cluster, and after Redis lost its data. Exactly one replica rebuilds (a lock with a token,
   * renewed by every write); the others get 'already_seeded', or 'busy' while it runs — retry.
   * `replay` must write pending ledger rows (as reservations) BEFORE reading settled rows, so a
   * row that settles in between is not missed (overspend); it must then skip that row's settled
   * spend, which its restored reservation will book when closed (else it counts twice).
   * Until this finishes, every counter call rejects with `not_seeded`.
   */
  async seed(replay: (sink: SeedSink) => Promise<void>): Promise<SeedOutcome> {
    if (await this.isSeeded()) return 'already_seeded';
    const token = randomUUID();
    const locked = await guarded('budget rebuild lock', () =>
      this.client.set(this.keys.seeding, token, 'PX', SEED_LOCK_MS, 'NX'),
    );
    if (locked !== 'OK') return 'busy';
    try {
      if (await this.isSeeded()) return 'already_seeded';
      await this.wipe();
      await replay(this.sinkFor(token));
      const done = integer(
        await SEED_FINISH.run(this.client, [this.keys.seeding, this.keys.seeded], [token]),
        'budget rebuild finish',
      );
      if (done !== 1) throw new Error('budget rebuild: the lock expired before the rebuild finished');
      return 'seeded';
    } finally {
      await SEED_ABANDON.run(this.client, [this.keys.seeding], [token]).catch(() => {});
    }
  }

  private sinkFor(token: string): SeedSink {
    const lock = [token, SEED_LOCK_MS] as const;
    return {
      addSpent: async (policy, amount, atMs) => {
        assertValidAmount(amount, `spend for ${policy.id}`);
        const key = policyKey(policy);
        const booking = this.windows.booking(key, policy.window, atMs);
        await SEED_SPENT.run(
          this.client,
          [this.keys.seeding, this.keys.spent(key, booking.slot)],
          [...lock, ...amountArgs(amount), booking.keepMs],
        );
      },
      restoreReservation: async (reservationId, lines, reservedAtMs, leaseExpiresAtMs) => {
        const merged = mergeLines(lines);
        if (merged.length === 0) return;
        const keys = [this.keys.seeding, this.keys.reservation(reservationId), this.keys.leases];
        const args: Array<string | number> = [
          ...lock,
          reservationId,
          reservedAtMs,
          leaseExpiresAtMs,
          merged.length,
        ];
        for (const { key, policy, amount } of merged) {
          const booking = this.windows.booking(key, policy.window, reservedAtMs);
          keys.push(this.keys.reserved(key), this.keys.spent(key, booking.slot));
          args.push(policy.id, ...amountArgs(amount), booking.keepMs);
        }
        await SEED_RESERVATION.run(this.client, keys, args);
      },
    };
  }

  /** Deletes whatever this prefix still holds (a partial earlier rebuild), except the lock. */
  private async wipe(): Promise<void> {
    let cursor = '0';
    do {
      const [next, found] = await guarded('budget rebuild wipe', () =>
        this.client.scan(cursor, 'MATCH', this.keys.pattern(), 'COUNT', 1000),
      );
      cursor = next;
      const doomed = found.filter((k) => k !== this.keys.seeding);
      if (doomed.length > 0) await guarded('budget rebuild wipe', () => this.client.unlink(...doomed));
    } while (cursor !== '0');
  }

  private closeKeys(reservationId: string): string[] {
    return [this.keys.seeded, this.keys.reservation(reservationId), this.keys.leases];
  }
}

/**
 * Validates the lines and merges those of one policy (same id and window), so a policy listed
 * twice is checked against the sum rather than twice against the same headroom.
 */
function mergeLines(lines: ReserveLine[]): MergedLine[] {
  const merged: MergedLine[] = [];
  for (const { policy, amount } of lines) {
    assertValidAmount(amount, `reservation for ${policy.id}`);
    const key = policyKey(policy);
    const same = merged.find((m) => m.key === key);
    if (same) addInto(same.amount, amount);
    else merged.push({ key, policy, amount: copyAmount(amount) });
  }
  return merged;
}

/** Integer amounts as decimal strings: exact all the way into HINCRBY. */
function amountArgs(a: Amount): [string, string, string] {
  return [String(a.nanos), String(a.tokens), String(a.requests)];
}

function cap(limit: number | null): string {
  return limit === null ? '' : String(limit);
}

function parseReaped(reservationId: string, raw: string): ReapedReservation {
  const record = JSON.parse(raw) as RecordJson;
  return {
    reservationId,
    reservedAtMs: Number(record.at),
    leaseExpiredAtMs: Number(record.exp),
    lines: record.lines.map((line) => ({
      policyId: line.p,
      amount: { nanos: Number(line.a[0]), tokens: Number(line.a[1]), requests: Number(line.a[2]) },
    })),
  };
}
