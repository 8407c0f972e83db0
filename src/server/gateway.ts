import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { destination, type Logger, pino } from 'pino';
import { AlertDispatcher } from '../alerts/dispatcher.ts';
import { BudgetService } from '../budget/service.ts';
import type { AsyncBudgetCounters, BudgetPolicy } from '../budget/types.ts';
import { currentWindow } from '../budget/windows.ts';
import { budgetFromRaw, type CompiledConfig, compileConfig } from '../config/compile.ts';
import type { RawConfig } from '../config/schema.ts';
import { denial, toErrorResponse } from '../errors.ts';
import { exportSchedulerFor } from '../finops/export/wiring.ts';
import { LoopGuard } from '../guardrails/loopGuard.ts';
import { IdempotencyService } from '../idempotency/service.ts';
import { KeyService } from '../identity/keys.ts';
import { identityOfRow, settledAmountOf } from '../ledger/replay.ts';
import type { CallRecord } from '../ledger/types.ts';
import { LedgerWriter } from '../ledger/writer.ts';
import { buildPriceTable } from '../pricing/priceTable.ts';
import { UpstreamClients } from '../providers/http.ts';
import { RateLimiter } from '../ratelimit/limiter.ts';
import { RateLimitIndex } from '../ratelimit/matcher.ts';
import { BudgetQueue } from '../router/queue.ts';
import { RunawayDetector } from '../runaway/detector.ts';
import type { Store } from '../store/interface.ts';
import { MemoryBudgetCounters } from '../store/memory/budgetCounters.ts';
import { DeferredCloses } from '../store/redis/deferredCloses.ts';
import { fromSync, fromSyncRateLimits } from '../store/redis/fromSync.ts';
import { MIN_RENEW_EVERY_MS } from '../store/redis/leaseKeeper.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { createTelemetry, LOG_REDACT_PATHS, type TelemetryExporters } from '../telemetry/index.ts';
import { openClusterStores, seedCounters } from './cluster.ts';
import { sendError } from './http.ts';
import { Router } from './router.ts';
import { adminRoutes } from './routes/admin.ts';
import { alertAdminRoutes } from './routes/adminAlerts.ts';
import { auditAdminRoutes } from './routes/adminAudit.ts';
import { exportAdminRoutes } from './routes/adminExport.ts';
import { anthropicRoutes } from './routes/anthropic.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { openAiRoutes } from './routes/openai.ts';
import type { Services } from './services.ts';

/** What a client whose bytes are not HTTP gets: the catalogued JSON error, then the connection closes. */
const MALFORMED_HTTP_BODY = JSON.stringify(
  toErrorResponse(denial('invalid_request', 'The request is not valid HTTP/1.1.')).body,
);
const MALFORMED_HTTP_RESPONSE =
  'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-tollgate-error-code: invalid_request\r\n' +
  `content-length: ${Buffer.byteLength(MALFORMED_HTTP_BODY)}\r\nconnection: close\r\n\r\n${MALFORMED_HTTP_BODY}`;

export interface GatewayOptions {
  config: RawConfig;
  /** Overrides config.storage.sqlite; ':memory:' for throwaway tests. */
  dbFile?: string;
  port?: number;
  host?: string;
  masterKey?: string | null;
  clock?: () => number;
  logger?: Logger;
  /** Test-only: in-memory OpenTelemetry span exporter / metric reader. */
  telemetryExporters?: TelemetryExporters;
}

export interface Gateway {
  url: string;
  server: Server;
  services: Services;
  close(): Promise<void>;
}

export interface RecoveryReport {
  orphanedSettled: number;
  replayedRows: number;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway & { recovery: RecoveryReport }> {
  const config = compileConfig(opts.config);
  const clock = opts.clock ?? Date.now;
  const log =
    opts.logger ??
    pino(
      { level: process.env.TOLLGATE_LOG_LEVEL ?? 'info', redact: LOG_REDACT_PATHS },
      // Buffered: a synchronous write per access-log line was a visible share of each call's CPU.
      // The ledger, not the log, is the durable record; close() flushes what is buffered.
      destination({ dest: 1, sync: false, minLength: 4096 }),
    );
  const leaseMs = config.raw.ledger.lease_ms;
  const cluster = config.raw.storage.redis ? await openClusterStores(config, log) : null;
  const store =
    cluster?.store ??
    openSqliteStore(opts.dbFile ?? config.raw.storage.sqlite, { onError: (message) => log.error(message) });
  try {
    const policies = await seedStore(store, config, clock());
    const counters: AsyncBudgetCounters =
      cluster?.counters ?? fromSync(new MemoryBudgetCounters(), { leaseMs });
    const budgets = new BudgetService(counters, policies);
    const ledger = new LedgerWriter(store.ledger, (err) => log.error({ err }, 'ledger write failed'));
    const keys = new KeyService(store.entities, clock);
    await keys.load();
    const services: Services = {
      config,
      store,
      keys,
      budgets,
      prices: buildPriceTable(
        [...config.routes.values()].flat().map((m) => ({
          id: m.priceKey,
          provider: m.priceProvider,
          upstreamModel: m.upstreamModel,
          prices: m.prices,
        })),
      ),
      ledger,
      upstream: new UpstreamClients(),
      clock,
      log,
      masterKey: opts.masterKey !== undefined ? opts.masterKey : (config.raw.server.master_key ?? null),
      guardrails: config.guardrails,
      loopGuard: new LoopGuard(),
      idempotency: new IdempotencyService(store.idempotency, config.raw.idempotency, clock, {
        leaseMs,
        onError: (err) => log.warn({ err }, 'Idempotency-Key store failed'),
      }),
      queue: new BudgetQueue(config.raw.routing.queue),
      alerts: await AlertDispatcher.open(config.raw.alerts, store.alerts, clock, log),
      rateLimits: new RateLimitIndex(config.rateLimits),
      rateLimiter: cluster?.rateLimiter ?? fromSyncRateLimits(new RateLimiter(), { leaseMs }),
      closes: new DeferredCloses(counters, {
        maxAgeMs: leaseMs,
        clock,
        onGiveUp: (c) =>
          log.warn({ reservationId: c.id }, 'reservation close given up; the lease reaper settles it'),
      }),
      runaway: new RunawayDetector(config.runaway),
      telemetry: createTelemetry({ config: config.raw.telemetry, log, exporters: opts.telemetryExporters }),
    };
    // Embedded: this process owns the ledger, so pending rows are orphans. Cluster: other
    // replicas own theirs; Redis holds the reservations and its reaper settles expired leases.
    const recovery = cluster ? { orphanedSettled: 0, replayedRows: 0 } : await recoverLedger(services);
    if (cluster) {
      const clusterServices = {
        budgets,
        keys,
        store,
        clock,
        log,
        reloadPolicies: async () => budgets.replacePolicies(await policiesInForce(store, config)),
        leaseMs,
      };
      if (!(await cluster.counters.isSeeded())) await seedCounters(clusterServices, cluster.counters);
      cluster.start(clusterServices);
    }
    const router = new Router([
      ...healthRoutes(services),
      ...openAiRoutes(services),
      ...anthropicRoutes(services),
      ...adminRoutes(services),
      ...alertAdminRoutes(services),
      ...exportAdminRoutes(services),
      ...auditAdminRoutes(services),
      ...metricsRoutes(services),
      ...dashboardRoutes(services),
    ]);
    const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      try {
        const done = router.dispatch(req, res);
        if (done instanceof Promise) done.catch((err: unknown) => internalError(services, res, err));
      } catch (err) {
        internalError(services, res, err);
      }
    });
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end(MALFORMED_HTTP_RESPONSE);
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? config.raw.server.port, opts.host ?? config.raw.server.host, () =>
        resolve(),
      );
    });
    // Cluster: the lease keeper renews the rows of this replica's calls with their reservations.
    const stopRenewingLeases = cluster ? () => {} : keepPendingLeases(services, leaseMs);
    const exportScheduler = exportSchedulerFor(services);
    exportScheduler.start();
    let closing: Promise<void> | null = null;
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return {
      url: `http://${host}:${addr.port}`,
      server,
      services,
      recovery,
      close() {
        closing ??= closeAll();
        return closing;
      },
    };
    async function closeAll(): Promise<void> {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      stopRenewingLeases();
      services.queue.close();
      await exportScheduler.close();
      await ledger.flush();
      await services.alerts.close();
      await services.upstream.close();
      await services.telemetry.shutdown();
      await store.close();
      log.flush();
    }
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Embedded: every pending row is a call this process is running (it holds the database's lock,
 * and recovery settled the rows of any earlier process), so all of them are renewed to now +
 * lease, every lease / 3 (at least every second), like the cluster's lease keeper. The audit then
 * reads a long call as live, not orphaned. A failed renewal is logged and the next tick retries.
 */
function keepPendingLeases(svc: Services, leaseMs: number): () => void {
  let running = false;
  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      renewAllPendingLeases(svc, leaseMs)
        .catch((err: unknown) =>
          svc.log.warn({ err }, 'renewing pending ledger rows failed; retried next tick'),
        )
        .finally(() => {
          running = false;
        });
    },
    Math.max(MIN_RENEW_EVERY_MS, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

async function renewAllPendingLeases(svc: Services, leaseMs: number): Promise<void> {
  const rows = await svc.store.ledger.pendingRows();
  if (rows.length === 0) return;
  const ids = rows.map((r) => ({ callId: r.callId, attempt: r.attempt }));
  await svc.store.ledger.renewPendingLeases(ids, svc.clock() + leaseMs);
}

function internalError(svc: Services, res: import('node:http').ServerResponse, err: unknown): void {
  svc.log.error({ err }, 'unhandled error in request handler');
  if (!res.headersSent) sendError(res, denial('internal_error', 'Internal error.'));
  else if (!res.writableEnded) res.end();
}

/** Config entities are declared: config wins for its ids; API-created ones are kept. Returns the policies in force. */
async function seedStore(store: Store, config: CompiledConfig, now: number): Promise<BudgetPolicy[]> {
  const e = store.entities;
  for (const org of config.orgs) await e.upsertOrg({ id: org.id, name: org.name, source: 'config' });
  for (const t of config.teams) {
    const existing = await e.getTeam(t.id);
    await e.upsertTeam({
      id: t.id,
      org: t.org,
      name: t.name,
      costCenter: t.costCenter,
      source: 'config',
      metadata: existing?.metadata ?? {},
      createdAt: existing?.createdAt ?? now,
    });
    for (const p of t.projects) {
      const existingProject = await e.getProject(p.id);
      await e.upsertProject({
        id: p.id,
        team: t.id,
        name: p.name,
        source: 'config',
        createdAt: existingProject?.createdAt ?? now,
      });
    }
  }
  const configIds = new Set(config.raw.budgets.map((b) => b.id));
  const stored = await e.listBudgets();
  for (const b of stored) {
    // A budget once declared in config and since removed from it is no longer in force.
    if (b.source === 'config' && !configIds.has(b.id)) await e.deleteBudget(b.id);
  }
  for (const raw of config.raw.budgets) {
    const prev = stored.find((s) => s.id === raw.id);
    await e.upsertBudget({
      id: raw.id,
      spec: raw,
      source: 'config',
      createdAt: prev?.createdAt ?? now,
      updatedAt: now,
    });
  }
  return policiesInForce(store, config);
}

/** Config budgets plus those created through the admin API (stored), as policies. */
async function policiesInForce(store: Store, config: CompiledConfig): Promise<BudgetPolicy[]> {
  const configIds = new Set(config.raw.budgets.map((b) => b.id));
  const apiPolicies: BudgetPolicy[] = [];
  for (const b of await store.entities.listBudgets()) {
    if (b.source !== 'api' || configIds.has(b.id)) continue;
    apiPolicies.push(budgetFromRaw(b.spec));
  }
  return [...config.policies, ...apiPolicies];
}

/**
 * Crash recovery, then window state from the ledger. In embedded mode this process owns the
 * database, so every pending row belongs to a dead process: it is settled at its reserved
 * amount and flagged for audit — spend is never forgotten.
 */
async function recoverLedger(svc: Services): Promise<RecoveryReport> {
  const now = svc.clock();
  const pending = await svc.store.ledger.pendingRows();
  const settled: CallRecord[] = pending.map((r) => ({
    ...r,
    status: 'orphaned',
    usageSource: 'reserved',
    cost: r.reserved,
    tsEnd: now,
    leaseUntil: null,
    flags: r.flags ? `${r.flags},orphaned_settled_at_reserved` : 'orphaned_settled_at_reserved',
    errorCode: 'gateway_crashed',
  }));
  if (settled.length > 0) await svc.store.ledger.writeBatch(settled);

  const policies = svc.budgets.policies();
  let replayedRows = 0;
  if (policies.length > 0) {
    const from = Math.min(...policies.map((p) => currentWindow(p.window, now).startMs));
    for await (const row of svc.store.ledger.iterateSettledSince(from)) {
      const amount = settledAmountOf(row);
      if (amount.nanos === 0 && amount.tokens === 0 && amount.requests === 0) continue;
      for (const policy of svc.budgets.match(identityOfRow(row)))
        await svc.budgets.counters.addSpent(policy, amount, row.tsStart);
      replayedRows++;
    }
  }
  if (settled.length > 0)
    svc.log.warn({ count: settled.length }, 'settled orphaned pending calls at their reserved amount');
  return { orphanedSettled: settled.length, replayedRows };
}
