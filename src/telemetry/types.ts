import type { IncomingHttpHeaders } from 'node:http';
import type { BudgetService } from '../budget/service.ts';
import type { Denial } from '../errors.ts';
import type { CallRecord } from '../ledger/types.ts';

/** What the pipeline knows about an upstream attempt just before it is sent. */
export interface AttemptInfo {
  /** The attempt's pending ledger row: identity, models, reservation, route actions. */
  row: CallRecord;
  /** The provider it goes to (config entry): adapter kind and base URL. */
  provider: { kind: string; base_url: string };
  /** The model name the provider is asked for. */
  upstreamModel: string;
  /** The client's request headers, for its W3C `traceparent` / `tracestate`. */
  clientHeaders: IncomingHttpHeaders;
}

/** What the provider said about an attempt that the ledger row does not keep. */
export interface AttemptEnd {
  /** Why the model stopped, one per choice, in the provider's words; empty when unknown. */
  finishReasons?: readonly string[];
}

/** One upstream attempt under observation, from just before the call until settlement. */
export interface AttemptTrace {
  /** Headers for the upstream request: the W3C `traceparent` of the attempt's CLIENT span. */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  /** Ends the attempt with its final ledger row; a second call is a no-op. */
  end(row: CallRecord, info?: AttemptEnd): void;
}

/**
 * The pipeline's telemetry hooks. Built once at startup; when a part is off (no OTLP, no
 * Prometheus, log level above info) its hook is a no-op that touches no SDK.
 */
export interface Telemetry {
  startAttempt(info: AttemptInfo): AttemptTrace;
  /**
   * Every final ledger row, right where it is written (denials included): spend and token
   * counters, denial/route/error counters, the access log line. `body` is the client's request,
   * logged only for projects that opted in to prompt logging.
   */
  recordFinal(row: CallRecord, body?: unknown): void;
  /** A call refused before it had an identity or a ledger row (bad key, unreadable body). */
  recordRefusal(denial: Denial, callId: string): void;
  /** The Prometheus text exposition, or null when Prometheus is disabled. */
  readonly prometheus: PrometheusExposition | null;
  /** Flushes and stops exporters. */
  shutdown(): Promise<void>;
}

export interface PrometheusExposition {
  readonly path: string;
  readonly requireMasterKey: boolean;
  readonly contentType: string;
  /** Renders every metric; gauges are read from `live` at this moment. */
  render(live: LiveState): Promise<string>;
}

/** The gateway state that scrape-time gauges read (Services satisfies it). */
export interface LiveState {
  clock: () => number;
  queue: { readonly size: number };
  ledger: { readonly backlog: number };
  budgets: Pick<BudgetService, 'policies' | 'state' | 'counters'>;
}
