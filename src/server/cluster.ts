import type { Logger } from 'pino';
import type { BudgetService } from '../budget/service.ts';
import type { AsyncBudgetCounters, BudgetPolicy } from '../budget/types.ts';
import { currentWindow } from '../budget/windows.ts';
import type { CompiledConfig } from '../config/compile.ts';
import type { KeyService } from '../identity/keys.ts';
import { identityOfRow as identityOf, settledAmountOf as settledAmount } from '../ledger/replay.ts';
import type { CallRecord } from '../ledger/types.ts';
import type { Store } from '../store/interface.ts';
import { openPostgresStore } from '../store/postgres/index.ts';
import { RedisBudgetCounters, type SeedOutcome } from '../store/redis/budgetCounters.ts';
import { createCountersClient, waitUntilReady } from '../store/redis/client.ts';
import {
  FailOpenCounters,
  type FailOpenCountersOptions,
  redisDataEpoch,
} from '../store/redis/failOpenCounters.ts';
import { FailOpenRateLimits } from '../store/redis/failOpenRateLimits.ts';
import { LeaseKeeper } from '../store/redis/leaseKeeper.ts';
import { RedisRateLimiter } from '../store/redis/rateLimiter.ts';
import type { AsyncRateLimits } from '../store/redis/types.ts';
import { SpoolingLedgerStore } from '../store/spool/spoolingLedger.ts';

/**
 * Cluster mode (DESIGN.md "Storage and scale"): counters, reservations and rate limits in Redis
 * (shared by every replica), config, keys, the ledger (rows spooled to local disk while it is
 * unreachable), alert events and Idempotency-Key records in PostgreSQL: an alert threshold fires
 * once for the cluster, and a retry replays (or is told to wait) on whichever replica it lands.
 */
export interface ClusterStores {
  store: Store;
  /** Redis, failing open per budget while it is down; `seed` / `isSeeded` reach Redis. */
  counters: ClusterCounters;
  rateLimiter: AsyncRateLimits;
  /** Background work: lease renewal and reapers, config and key refresh. */
  start(svc: ClusterServices): void;
  close(): Promise<void>;
}

/**
 * The Redis counters behind `FailOpenCounters`, with their rebuild entry points passed through.
 * `shared` is what calls go through (default: the Redis counters; cluster mode: their lease keeper).
 */
export class ClusterCounters extends FailOpenCounters {
  constructor(
    private readonly redisCounters: RedisBudgetCounters,
    options: FailOpenCountersOptions,
    shared: AsyncBudgetCounters = redisCounters,
  ) {
    super(shared, options);
  }

  isSeeded(): Promise<boolean> {
    return this.redisCounters.isSeeded();
  }

  seed(replay: Parameters<RedisBudgetCounters['seed']>[0]): Promise<SeedOutcome> {
    return this.redisCounters.seed(replay);
  }
}

interface ClusterServices {
  budgets: BudgetService;
  keys: KeyService;
  store: Store;
  clock: () => number;
  log: Logger;
  reloadPolicies: () => Promise<void>;
  /** The reservation lease (`ledger.lease_ms`), to restore reservations with a live lease. */
  leaseMs?: number;
}

export async function openClusterStores(config: CompiledConfig, log: Logger): Promise<ClusterStores> {
  const storage = config.raw.storage;
  if (!storage.redis || !storage.postgres)
    throw new Error('cluster mode needs storage.redis and storage.postgres');
  const leaseMs = config.raw.ledger.lease_ms;
  const redis = createCountersClient(storage.redis);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  await waitUntilReady(redis, 10_000);
  const pg = await openPostgresStore(storage.postgres, {
    schema: storage.postgres_schema,
    onError: (message) => log.error(message),
  });
  const ledger = await SpoolingLedgerStore.open(pg.ledger, {
    path: storage.spool,
    onError: (message, err) => log.warn({ err }, message),
  });
  const budgetPrefix = `${storage.redis_prefix}:{budgets}`;
  // Renews the leases of this replica's running calls, so only a dead replica's calls are reaped;
  // their pending ledger rows follow, so the audit and a rebuild see them as live too.
  const leases = new LeaseKeeper({
    leaseMs,
    onError: (err, what) => log.warn({ err }, `lease renewal of ${what} failed; retried next tick`),
    renewReservationRecords: (ids, at) => ledger.renewPendingLeases(ledgerRowsOf(ids), at),
  });
  const redisCounters = new RedisBudgetCounters(redis, { prefix: budgetPrefix, leaseMs });
  const counters = new ClusterCounters(
    redisCounters,
    {
      dataEpoch: redisDataEpoch(redis, budgetPrefix),
      onReplayError: (err) => log.error({ err }, 'spend booked during a Redis outage could not be replayed'),
    },
    leases.budgetCounters(redisCounters),
  );
  // Outermost: a call limited locally during an outage holds nothing in Redis to renew.
  const rateLimiter = new FailOpenRateLimits(
    leases.rateLimits(
      new RedisRateLimiter(redis, { prefix: `${storage.redis_prefix}:{ratelimits}`, leaseMs }),
    ),
    { leaseMs },
  );
  const timers: NodeJS.Timeout[] = [];
  const store: Store = {
    entities: pg.entities,
    ledger,
    alerts: pg.alerts,
    idempotency: pg.idempotency,
    async close() {
      for (const t of timers) clearInterval(t);
      leases.stop();
      counters.stop();
      await ledger.close();
      await pg.close();
      redis.disconnect();
    },
  };
  return {
    store,
    counters,
    rateLimiter,
    start(svc) {
      void counters.start();
      leases.start(svc.clock);
      const every = (ms: number, job: () => Promise<void>) => {
        let running = false;
        const t = setInterval(() => {
          if (running) return;
          running = true;
          job()
            .catch((err: unknown) => svc.log.warn({ err }, 'cluster background job failed'))
            .finally(() => {
              running = false;
            });
        }, ms);
        t.unref();
        timers.push(t);
      };
      // Revocations and config changes made on another replica reach this one within a second.
      every(1_000, async () => {
        await svc.keys.load();
        await svc.reloadPolicies();
      });
      every(1_000, () => reapExpired(svc, counters, rateLimiter));
      // Redis restarted empty: rebuild its counters from the ledger (one replica does it).
      every(2_000, async () => {
        if (!(await counters.isSeeded())) await seedCounters(svc, counters);
      });
    },
    close: () => store.close(),
  };
}

/** Reservation ids (`${callId}#${attempt}`, one per upstream attempt) as ledger row keys. */
export function ledgerRowsOf(reservationIds: readonly string[]): Array<{ callId: string; attempt: number }> {
  const rows: Array<{ callId: string; attempt: number }> = [];
  for (const id of reservationIds) {
    const hash = id.lastIndexOf('#');
    const attempt = Number(id.slice(hash + 1));
    if (hash > 0 && Number.isSafeInteger(attempt) && attempt > 0)
      rows.push({ callId: id.slice(0, hash), attempt });
  }
  return rows;
}

/**
 * Rebuilds Redis's counters from the ledger: open reservations of calls still running (pending
 * rows, with their lease) first, then the settled spend of every window in force. Pending first:
 * a row that settles meanwhile is never missed. Its settled spend is not added as well: its
 * restored reservation already holds it, and the call's own (deferred) settle or the reaper
 * closes that reservation — adding both would count the call twice and the counters would stay
 * above the ledger.
 */
export async function seedCounters(
  svc: ClusterServices,
  counters: Pick<RedisBudgetCounters, 'seed'>,
): Promise<void> {
  const policies = svc.budgets.policies();
  for (let tries = 0; tries < 100; tries++) {
    const outcome = await counters.seed(async (sink) => {
      const restored = new Set<string>();
      for (const row of await svc.store.ledger.pendingRows()) {
        const lines = svc.budgets.match(identityOf(row)).map((policy) => ({
          policy,
          amount: { nanos: row.reserved, tokens: row.reservedTokens, requests: 1 },
        }));
        const reservationId = `${row.callId}#${row.attempt}`;
        // The row's lease is renewed with the reservation's, but that renewal may have failed (and
        // a row replayed from a spool carries its first lease). Restored at least one lease from
        // now, a live call is not reaped before its replica renews again; a dead replica's call
        // is reaped one lease later, at reserved.
        const leaseUntil = Math.max(row.leaseUntil ?? row.tsStart, svc.clock() + (svc.leaseMs ?? 0));
        await sink.restoreReservation(reservationId, lines, row.tsStart, leaseUntil);
        restored.add(reservationId);
      }
      if (policies.length === 0) return;
      const now = svc.clock();
      const from = Math.min(...policies.map((p) => windowStart(p, now)));
      for await (const row of svc.store.ledger.iterateSettledSince(from)) {
        if (restored.has(`${row.callId}#${row.attempt}`)) continue;
        const amount = settledAmount(row);
        if (amount.nanos === 0 && amount.tokens === 0 && amount.requests === 0) continue;
        for (const policy of svc.budgets.match(identityOf(row)))
          await sink.addSpent(policy, amount, row.tsStart);
      }
    });
    if (outcome !== 'busy') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('another replica has been rebuilding the counters for too long');
}

/**
 * A replica that died holding reservations: past their lease they are settled at the reserved
 * amount (the worst case, never less than what ran) and their ledger rows say so.
 */
async function reapExpired(
  svc: ClusterServices,
  counters: AsyncBudgetCounters,
  rateLimiter: AsyncRateLimits,
): Promise<void> {
  const now = svc.clock();
  await rateLimiter.reap(now);
  const reaped = await counters.reap(now);
  if (reaped.length === 0) return;
  const ids = new Set(reaped.map((r) => r.reservationId));
  const rows = (await svc.store.ledger.pendingRows()).filter((r) => ids.has(`${r.callId}#${r.attempt}`));
  await svc.store.ledger.writeBatch(
    rows.map(
      (r): CallRecord => ({
        ...r,
        status: 'orphaned',
        usageSource: 'reserved',
        cost: r.reserved,
        tsEnd: now,
        leaseUntil: null,
        flags: 'orphaned_settled_at_reserved',
        errorCode: 'gateway_crashed',
      }),
    ),
  );
  svc.log.warn({ reaped: reaped.length }, 'reservations past their lease settled at reserved');
}

function windowStart(p: BudgetPolicy, now: number): number {
  return currentWindow(p.window, now).startMs;
}
