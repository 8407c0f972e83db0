import type { Logger } from 'pino';
import type { AlertDispatcher } from '../alerts/dispatcher.ts';
import type { BudgetService } from '../budget/service.ts';
import type { CompiledConfig } from '../config/compile.ts';
import type { LoopGuard } from '../guardrails/loopGuard.ts';
import type { Guardrail } from '../guardrails/rules.ts';
import type { IdempotencyService } from '../idempotency/service.ts';
import type { KeyService } from '../identity/keys.ts';
import type { LedgerWriter } from '../ledger/writer.ts';
import type { PriceTable } from '../pricing/priceTable.ts';
import type { UpstreamClients } from '../providers/http.ts';
import type { RateLimitIndex } from '../ratelimit/matcher.ts';
import type { BudgetQueue } from '../router/queue.ts';
import type { RunawayDetector } from '../runaway/detector.ts';
import type { Store } from '../store/interface.ts';
import type { DeferredCloses } from '../store/redis/deferredCloses.ts';
import type { AsyncRateLimits } from '../store/redis/types.ts';
import type { Telemetry } from '../telemetry/index.ts';

/** Everything a request handler may use, built once at startup and injected. */
export interface Services {
  config: CompiledConfig;
  store: Store;
  keys: KeyService;
  budgets: BudgetService;
  prices: PriceTable;
  ledger: LedgerWriter;
  upstream: UpstreamClients;
  clock: () => number;
  log: Logger;
  masterKey: string | null;
  guardrails: Guardrail[];
  loopGuard: LoopGuard;
  idempotency: IdempotencyService;
  queue: BudgetQueue;
  alerts: AlertDispatcher;
  rateLimits: RateLimitIndex;
  rateLimiter: AsyncRateLimits;
  /** Settles and releases that survive a counter store outage (retried until the lease ends). */
  closes: DeferredCloses;
  runaway: RunawayDetector;
  telemetry: Telemetry;
}
