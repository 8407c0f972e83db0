import { performance } from 'node:perf_hooks';
import {
  type Attributes,
  type Counter,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Histogram,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { CallRecord } from '../ledger/types.ts';
import type { TelemetryConfig } from './config.ts';
import {
  errorType,
  finishReasonAttributes,
  GEN_AI,
  genAiInputTokens,
  hasUsage,
  OPERATION_DURATION_BUCKETS,
  operationName,
  providerName,
  type ServerEndpoint,
  serverEndpoint,
  TOKEN_USAGE_BUCKETS,
  tollgateAttributes,
  usageAttributes,
} from './genai.ts';
import type { AttemptEnd, AttemptInfo } from './types.ts';

/** Test-only: where spans and OTel metrics go instead of (or without) an OTLP endpoint. */
export interface TelemetryExporters {
  /** Each span is handed to it when it ends (SimpleSpanProcessor), e.g. an InMemorySpanExporter. */
  spanExporter?: SpanExporter;
  /** Reads the OTel metrics, e.g. a PeriodicExportingMetricReader over an InMemoryMetricExporter. */
  metricReader?: MetricReader;
}

/** One attempt's CLIENT span (null when tracing is off) and what its metrics are labelled with. */
export interface OtelAttempt {
  headers: Record<string, string>;
  end(row: CallRecord, info?: AttemptEnd): void;
}

interface Instruments {
  tokenUsage: Histogram;
  duration: Histogram;
  cost: Counter;
  denials: Counter;
}

const propagator = new W3CTraceContextPropagator();
const SCOPE = 'tollgate';

/**
 * The OpenTelemetry side: a CLIENT span per upstream attempt, parented on the client's W3C
 * traceparent, plus the GenAI client metrics. Built only when something will receive the data
 * (an OTLP endpoint or a test exporter), so a gateway without it pays nothing.
 */
export class OtelPipeline {
  private readonly servers = new Map<string, ServerEndpoint | null>();

  private constructor(
    private readonly tracer: Tracer | null,
    private readonly instruments: Instruments | null,
    private readonly providers: { shutdown(): Promise<void> }[],
  ) {}

  static create(config: TelemetryConfig, exporters: TelemetryExporters = {}): OtelPipeline | null {
    const resource = resourceFromAttributes({ 'service.name': config.service_name });
    const otlp = config.otlp;
    const base = otlp?.endpoint.replace(/\/+$/, '');

    const processors: SpanProcessor[] = [];
    if (exporters.spanExporter) processors.push(new SimpleSpanProcessor(exporters.spanExporter));
    if (otlp && base && otlp.traces) {
      const exporter = new OTLPTraceExporter({ url: `${base}/v1/traces`, headers: otlp.headers });
      processors.push(new BatchSpanProcessor(exporter));
    }
    const readers: MetricReader[] = [];
    if (exporters.metricReader) readers.push(exporters.metricReader);
    if (otlp && base && otlp.metrics) {
      const exporter = new OTLPMetricExporter({ url: `${base}/v1/metrics`, headers: otlp.headers });
      readers.push(new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: otlp.interval_ms }));
    }
    if (processors.length === 0 && readers.length === 0) return null;

    const owned: { shutdown(): Promise<void> }[] = [];
    let tracer: Tracer | null = null;
    if (processors.length > 0) {
      const provider = new BasicTracerProvider({ resource, spanProcessors: processors });
      tracer = provider.getTracer(SCOPE);
      owned.push(provider);
    }
    let instruments: Instruments | null = null;
    if (readers.length > 0) {
      const provider = new MeterProvider({ resource, readers });
      const meter = provider.getMeter(SCOPE);
      instruments = {
        tokenUsage: meter.createHistogram('gen_ai.client.token.usage', {
          unit: '{token}',
          description: 'Number of input and output tokens used.',
          advice: { explicitBucketBoundaries: TOKEN_USAGE_BUCKETS },
        }),
        duration: meter.createHistogram('gen_ai.client.operation.duration', {
          unit: 's',
          description: 'GenAI operation duration.',
          advice: { explicitBucketBoundaries: OPERATION_DURATION_BUCKETS },
        }),
        cost: meter.createCounter('tollgate.cost', {
          unit: '{USD}',
          description: 'Settled cost of upstream calls in USD (the exact figure is in the ledger).',
        }),
        denials: meter.createCounter('tollgate.denials', {
          unit: '{call}',
          description: 'Calls refused by the gateway, never forwarded.',
        }),
      };
      owned.push(provider);
    }
    return new OtelPipeline(tracer, instruments, owned);
  }

  /** Starts the attempt's CLIENT span; its traceparent goes in `headers` for the upstream request. */
  startAttempt(info: AttemptInfo): OtelAttempt {
    const operation = operationName(info.row.endpoint);
    const model = info.upstreamModel;
    const server = this.server(info.provider.base_url);
    const common: Attributes = {
      [GEN_AI.operationName]: operation,
      [GEN_AI.providerName]: providerName(info.provider.kind),
      [GEN_AI.requestModel]: model,
    };
    if (server) {
      common[GEN_AI.serverAddress] = server.address;
      common[GEN_AI.serverPort] = server.port;
    }
    const headers: Record<string, string> = {};
    let span: Span | null = null;
    if (this.tracer) {
      const parent = propagator.extract(ROOT_CONTEXT, info.clientHeaders, defaultTextMapGetter);
      span = this.tracer.startSpan(
        `${operation} ${model}`,
        { kind: SpanKind.CLIENT, attributes: common },
        parent,
      );
      // Only the W3C trace context is injected: never the client's baggage.
      propagator.inject(trace.setSpan(parent, span), headers, defaultTextMapSetter);
    }
    const startedAt = performance.now();
    return {
      headers,
      end: (row, info) => {
        const seconds = (performance.now() - startedAt) / 1000;
        const failure = errorType(row);
        if (span) {
          span.setAttributes({
            [GEN_AI.responseModel]: model,
            ...finishReasonAttributes(info?.finishReasons),
            ...usageAttributes(row),
            ...tollgateAttributes(row),
          });
          if (failure !== null) {
            span.setAttribute(GEN_AI.errorType, failure);
            span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
          }
          span.end();
        }
        this.recordAttempt(row, common, model, seconds, failure);
      },
    };
  }

  /** Every final ledger row: its cost, or the denial of a call that was never forwarded. */
  recordFinal(row: CallRecord): void {
    const m = this.instruments;
    if (!m) return;
    if (row.status === 'denied') {
      m.denials.add(1, {
        'tollgate.error_code': row.errorCode ?? 'unknown',
        'tollgate.policy': row.denialPolicy ?? '',
        'tollgate.team': row.team,
      });
    }
    if (row.cost > 0) {
      m.cost.add(row.cost / 1e9, {
        'tollgate.team': row.team,
        'tollgate.project': row.project,
        'tollgate.env': row.env,
        'tollgate.model': row.modelUsed,
      });
    }
  }

  /** A call refused before it had an identity (bad key, bad body). */
  recordRefusal(code: string): void {
    this.instruments?.denials.add(1, { 'tollgate.error_code': code, 'tollgate.policy': '' });
  }

  shutdown(): Promise<void> {
    return Promise.all(this.providers.map((p) => p.shutdown())).then(() => undefined);
  }

  private recordAttempt(
    row: CallRecord,
    common: Attributes,
    model: string,
    seconds: number,
    failure: string | null,
  ): void {
    const m = this.instruments;
    if (!m) return;
    const attrs: Attributes = {
      ...common,
      [GEN_AI.responseModel]: model,
      'tollgate.team': row.team,
      'tollgate.project': row.project,
      'tollgate.env': row.env,
    };
    m.duration.record(seconds, failure === null ? attrs : { ...attrs, [GEN_AI.errorType]: failure });
    if (!hasUsage(row)) return;
    m.tokenUsage.record(genAiInputTokens(row), { ...attrs, [GEN_AI.tokenType]: 'input' });
    m.tokenUsage.record(row.outputTokens, { ...attrs, [GEN_AI.tokenType]: 'output' });
  }

  private server(baseUrl: string): ServerEndpoint | null {
    let known = this.servers.get(baseUrl);
    if (known === undefined) {
      known = serverEndpoint(baseUrl);
      this.servers.set(baseUrl, known);
    }
    return known;
  }
}
