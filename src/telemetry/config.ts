import { z } from 'zod';
import { idSchema } from '../config/ids.ts';

/**
 * The `telemetry:` section of tollgate.yaml. Absent, it means: Prometheus `/metrics` on the
 * gateway's port, an access log line per call, no prompt logging and no OpenTelemetry export
 * (so no span or OTel metric work at all on the request path).
 */

const positiveInt = z.number().int().positive();

const otlpSchema = z
  .object({
    /** OTLP/HTTP base URL, e.g. http://otel-collector:4318; `/v1/traces` and `/v1/metrics` are appended. */
    endpoint: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    /** Sent with every export, e.g. an `authorization` header for a hosted collector. */
    headers: z.record(z.string(), z.string()).default({}),
    /** How often metrics are pushed. */
    interval_ms: positiveInt.min(1000).default(60_000),
    traces: z.boolean().default(true),
    metrics: z.boolean().default(true),
  })
  .strict();

const prometheusSchema = z
  .object({
    enabled: z.boolean().default(true),
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9._~/-]*$/, 'must be an absolute URL path like /metrics')
      .refine((p) => !/^\/(v1|admin|health|ready)(\/|$)/.test(p), 'must not shadow an API route')
      .default('/metrics'),
    /** Ask for the master key (Bearer) on the scrape; off by default, like most exporters. */
    require_master_key: z.boolean().default(false),
  })
  .strict();

const logsSchema = z
  .object({
    /** One JSON line per call at info level (never prompts, completions or keys). */
    access: z.boolean().default(true),
    /** Opt-in prompt logging: the request body, cut to `max_bytes`, only for these projects. */
    prompts: z
      .object({
        projects: z.array(idSchema).default([]),
        max_bytes: positiveInt.max(1024 * 1024).default(4096),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const telemetrySchema = z
  .object({
    /** `service.name` of the OpenTelemetry resource. */
    service_name: z.string().min(1).default('tollgate'),
    otlp: otlpSchema.optional(),
    prometheus: prometheusSchema.prefault({}),
    logs: logsSchema.prefault({}),
  })
  .strict()
  .prefault({});

export type TelemetryConfig = z.infer<typeof telemetrySchema>;
