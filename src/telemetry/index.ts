import type { Logger } from 'pino';
import { describe } from '../errors.ts';
import type { CallRecord } from '../ledger/types.ts';
import { AccessLog } from './accessLog.ts';
import type { TelemetryConfig } from './config.ts';
import { OtelPipeline, type TelemetryExporters } from './otel.ts';
import { PrometheusMetrics } from './prometheus.ts';
import type { AttemptEnd, AttemptInfo, AttemptTrace, Telemetry } from './types.ts';

export { LOG_REDACT_PATHS } from './accessLog.ts';
export type { TelemetryExporters } from './otel.ts';
export type {
  AttemptEnd,
  AttemptInfo,
  AttemptTrace,
  LiveState,
  PrometheusExposition,
  Telemetry,
} from './types.ts';

export interface TelemetryOptions {
  config: TelemetryConfig;
  log: Logger;
  /** Test-only: in-memory span exporter / metric reader, used with or without OTLP. */
  exporters?: TelemetryExporters;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NOOP_TRACE: AttemptTrace = Object.freeze({ upstreamHeaders: NO_HEADERS, end() {} });

/** Builds the telemetry hooks; every part that is not configured costs nothing per call. */
export function createTelemetry(opts: TelemetryOptions): Telemetry {
  const otel = OtelPipeline.create(opts.config, opts.exporters);
  const prom = opts.config.prometheus.enabled
    ? new PrometheusMetrics(opts.config.prometheus.path, opts.config.prometheus.require_master_key)
    : null;
  const access = opts.config.logs.access ? new AccessLog(opts.log, opts.config.logs) : null;

  return {
    prometheus: prom,

    startAttempt(info: AttemptInfo): AttemptTrace {
      if (!otel && !prom) return NOOP_TRACE;
      const reserved = info.row.reserved;
      const attempt = otel ? otel.startAttempt(info) : null;
      prom?.attemptStarted(reserved);
      let ended = false;
      return {
        upstreamHeaders: attempt ? attempt.headers : NO_HEADERS,
        end(row: CallRecord, info?: AttemptEnd) {
          if (ended) return;
          ended = true;
          prom?.attemptEnded(reserved);
          attempt?.end(row, info);
        },
      };
    },

    recordFinal(row: CallRecord, body?: unknown): void {
      prom?.recordFinal(row);
      otel?.recordFinal(row);
      access?.record(row, body);
    },

    recordRefusal(denial, callId): void {
      prom?.recordRefusal(denial.code);
      otel?.recordRefusal(denial.code);
      access?.refusal(callId, denial.code, describe(denial.code).status);
    },

    async shutdown(): Promise<void> {
      await otel?.shutdown();
    },
  };
}
