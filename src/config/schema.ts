import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/config.ts';
import { finopsSchema } from '../finops/export/config.ts';
import { guardrailSchema } from '../guardrails/config.ts';
import { idempotencySchema } from '../idempotency/config.ts';
import { rateLimitsSchema } from '../ratelimit/config.ts';
import { routingSchema } from '../router/config.ts';
import { runawaySchema } from '../runaway/config.ts';
import { telemetrySchema } from '../telemetry/config.ts';
import { idSchema } from './ids.ts';

/**
 * The tollgate.yaml schema. Field names are snake_case as users write them; `compile.ts`
 * turns a parsed config into the typed structures the services use.
 */

export { idSchema } from './ids.ts';

const usdAmount = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal USD amount'),
]);
const positiveInt = z.number().int().positive();

const priceSchema = z
  .object({
    input: usdAmount.optional(),
    output: usdAmount.optional(),
    cache_read: usdAmount.optional(),
    cache_write: usdAmount.optional(),
    reasoning: usdAmount.optional(),
  })
  .strict();

export const providerSchema = z
  .object({
    /** Which adapter speaks to it. */
    kind: z
      .enum(['openai', 'openai-compatible', 'azure', 'anthropic', 'bedrock', 'gemini'])
      .default('openai'),
    base_url: z.url({ message: 'must be an http(s) URL' }),
    api_key: z.string().optional(),
    timeout_ms: positiveInt.default(600_000),
    /** Time to wait for response headers (covers time-to-first-token). */
    headers_timeout_ms: positiveInt.default(120_000),
    connections: positiveInt.default(128),
    headers: z.record(z.string(), z.string()).default({}),
    /** Azure OpenAI: the `api-version` query parameter. */
    api_version: z.string().default('2024-10-21'),
    /** Anthropic: the `anthropic-version` header. */
    anthropic_version: z.string().default('2023-06-01'),
    /** AWS Bedrock: region and credentials for SigV4 signing. */
    region: z.string().default('us-east-1'),
    aws_access_key_id: z.string().optional(),
    aws_secret_access_key: z.string().optional(),
    aws_session_token: z.string().optional(),
    /** Client headers passed through to this provider (names, `*` suffix allowed), e.g. ["openai-beta", "x-mock-*"]. */
    forward_headers: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const modelSchema = z
  .object({
    id: z.string().min(1).max(200),
    provider: idSchema,
    upstream_model: z.string().min(1).max(200).optional(),
    /** The provider name used to look up bundled prices, when it differs from the provider id. */
    price_provider: z.string().optional(),
    prices: priceSchema.optional(),
    max_output_tokens: positiveInt.default(16_384),
    context_window: positiveInt.optional(),
  })
  .strict();

export const selectorSchema = z
  .object({
    org: z.string().optional(),
    team: z.string().optional(),
    project: z.string().optional(),
    env: z.string().optional(),
    key: z.string().optional(),
    user: z.string().optional(),
    feature: z.string().optional(),
    model: z.string().optional(),
    provider: z.string().optional(),
  })
  .strict();

const durationPattern = /^\d+(ms|s|m|h|d|w)$/;
export const windowSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('calendar'),
      every: z.enum(['day', 'week', 'month', 'year']),
      tz: z.string().default('UTC'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('rolling'),
      size: z.string().regex(durationPattern, 'must be a duration like 90s, 15m, 1h, 7d'),
      bucket: z.string().regex(durationPattern, 'must be a duration like 1m').optional(),
    })
    .strict(),
]);

export const budgetSchema = z
  .object({
    id: idSchema,
    match: selectorSchema.default({}),
    limit: z
      .object({
        usd: usdAmount.nullable().optional(),
        tokens: positiveInt.nullable().optional(),
        requests: positiveInt.nullable().optional(),
      })
      .strict()
      .refine((l) => l.usd != null || l.tokens != null || l.requests != null, {
        message: 'a budget needs at least one of usd, tokens, requests',
      }),
    window: windowSchema.default({ kind: 'calendar', every: 'month', tz: 'UTC' }),
    mode: z.enum(['hard', 'soft']).default('hard'),
    alerts: z.array(z.number().gt(0).lte(10)).default([0.5, 0.8, 1]),
    clamp: z.boolean().default(true),
    degrade: z
      .object({ at: z.number().gt(0).lte(1), to: z.string() })
      .strict()
      .nullable()
      .default(null),
    on_exhausted: z.enum(['deny', 'queue', 'reroute']).default('deny'),
    /**
     * Cluster mode, Redis unreachable: `closed` (absent) refuses with 503 store_unavailable;
     * `open` admits calls against `allowance_usd`, a cap per replica for the outage (e.g. the
     * limit divided by the replicas, or less), booked into Redis once it is back.
     */
    on_store_down: z
      .object({ mode: z.enum(['closed', 'open']), allowance_usd: usdAmount.optional() })
      .strict()
      .refine((s) => s.mode === 'closed' || s.allowance_usd !== undefined, {
        message: 'mode open needs allowance_usd',
        path: ['allowance_usd'],
      })
      .optional(),
  })
  .strict();

const projectSchema = z
  .object({
    id: idSchema,
    name: z.string().optional(),
    /** The features this project may name (x-tollgate-feature / baggage feature_id); absent = any. */
    features: z.array(idSchema).optional(),
  })
  .strict();

const attributionSchema = z
  .object({
    /** A feature outside its project's allowlist: bill it as `unattributed_label`, or refuse the call. */
    unknown_feature: z.enum(['unattributed', 'reject']).default('unattributed'),
    unattributed_label: idSchema.default('unattributed'),
  })
  .strict();
const teamSchema = z
  .object({
    id: idSchema,
    name: z.string().optional(),
    cost_center: z.string().optional(),
    projects: z.array(projectSchema).default([]),
  })
  .strict();
const orgSchema = z
  .object({ id: idSchema, name: z.string().optional(), teams: z.array(teamSchema).default([]) })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(4000),
        max_body_bytes: positiveInt.default(4 * 1024 * 1024),
        master_key: z.string().min(16, 'the master key must be at least 16 characters').optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 4000, max_body_bytes: 4 * 1024 * 1024 }),
    storage: z
      .object({
        /** Embedded mode's database (ledger, keys, alerts, idempotency); unused in cluster mode. */
        sqlite: z.string().default('tollgate.db'),
        /** Cluster mode: both set. Counters and rate limits in Redis, config, keys and ledger in PostgreSQL. */
        redis: z.string().optional(),
        redis_prefix: z.string().min(1).max(64).default('tollgate'),
        postgres: z.string().optional(),
        postgres_schema: z.string().optional(),
        /** Where ledger rows wait while PostgreSQL is unreachable (one file per replica). */
        spool: z.string().default('tollgate-ledger.spool'),
      })
      .strict()
      .refine((s) => (s.redis === undefined) === (s.postgres === undefined), {
        message: 'cluster mode needs both storage.redis and storage.postgres',
      })
      .prefault({}),
    ledger: z
      .object({
        /** A pending row older than this at startup belongs to a dead process: settle at reserved. */
        lease_ms: positiveInt.default(15 * 60_000),
      })
      .strict()
      .default({ lease_ms: 15 * 60_000 }),
    envs: z.array(idSchema).min(1).default(['dev', 'staging', 'prod']),
    providers: z.record(idSchema, providerSchema).default({}),
    models: z.array(modelSchema).default([]),
    orgs: z.array(orgSchema).default([]),
    budgets: z.array(budgetSchema).default([]),
    /** Smallest max-output a clamped call may get; below it the call is denied instead. */
    min_clamped_output_tokens: positiveInt.default(16),
    attribution: attributionSchema.prefault({}),
    routing: routingSchema.prefault({}),
    guardrails: z.array(guardrailSchema).default([]),
    idempotency: idempotencySchema.prefault({}),
    alerts: alertsConfigSchema.prefault({}),
    rate_limits: rateLimitsSchema,
    runaway: runawaySchema.prefault({}),
    finops: finopsSchema.prefault({}),
    telemetry: telemetrySchema,
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type RawBudget = z.infer<typeof budgetSchema>;
export type RawModel = z.infer<typeof modelSchema>;
export type RawProvider = z.infer<typeof providerSchema>;
