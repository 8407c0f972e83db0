import { z } from 'zod';
import { idSchema } from '../config/ids.ts';

/**
 * The `alerts:` section of tollgate.yaml. Every field has a default, so an absent section parses
 * to "no webhooks" and alerts are still recorded (alert_events) without being delivered.
 */

const positiveInt = z.number().int().positive();

export const webhookTargetSchema = z
  .object({
    id: idSchema,
    url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    /** `webhook`: our signed JSON event; `slack`: a Slack-compatible incoming webhook (text + blocks). */
    kind: z.enum(['webhook', 'slack']).default('webhook'),
    /** HMAC-SHA256 key for x-tollgate-signature; required for kind webhook. */
    secret: z.string().min(16, 'the webhook secret must be at least 16 characters').optional(),
    /** Policy ids whose alerts go to this target; absent = every policy. */
    budgets: z.array(idSchema).min(1).optional(),
  })
  .strict()
  .superRefine((target, ctx) => {
    if (target.kind === 'webhook' && target.secret === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'a webhook target needs a secret (at least 16 characters) to sign its events',
      });
    }
  });

export const alertRetrySchema = z
  .object({
    /** Total tries per target, the first one included. */
    attempts: positiveInt.max(20).default(5),
    initial_backoff_ms: positiveInt.default(500),
    max_backoff_ms: positiveInt.default(30_000),
  })
  .strict()
  .refine((r) => r.max_backoff_ms >= r.initial_backoff_ms, {
    message: 'max_backoff_ms must be at least initial_backoff_ms',
    path: ['max_backoff_ms'],
  });

export const alertsConfigSchema = z
  .object({
    webhooks: z.array(webhookTargetSchema).default([]),
    retry: alertRetrySchema.prefault({}),
    /** Per-attempt limit for one delivery, connection and body included. */
    timeout_ms: positiveInt.default(5_000),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.webhooks.forEach((w, i) => {
      if (seen.has(w.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['webhooks', i, 'id'],
          message: `duplicate webhook id ${w.id}`,
        });
      }
      seen.add(w.id);
    });
  });

export type AlertsConfig = z.infer<typeof alertsConfigSchema>;
export type WebhookTarget = z.infer<typeof webhookTargetSchema>;

/** What an absent `alerts:` section means. */
export const DEFAULT_ALERTS_CONFIG: AlertsConfig = alertsConfigSchema.parse({});

/**
 * Cross-checks against the compiled budgets (the schema alone cannot see them): a target that
 * names an unknown policy would silently never fire. Returns config issues as `path: message`.
 */
export function alertsConfigProblems(config: AlertsConfig, policyIds: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  config.webhooks.forEach((w, i) => {
    w.budgets?.forEach((id, j) => {
      if (!policyIds.has(id)) problems.push(`alerts.webhooks.${i}.budgets.${j}: unknown budget ${id}`);
    });
  });
  return problems;
}

/** Whether alerts of `policyId` go to `target`. */
export function targetWants(target: WebhookTarget, policyId: string): boolean {
  return target.budgets === undefined || target.budgets.includes(policyId);
}
