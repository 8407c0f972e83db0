import { z } from 'zod';
import { idSchema } from '../config/ids.ts';
import { MAX_LIMIT } from './gcra.ts';
import type { RateLimitRule, RateScopeKind } from './types.ts';

/**
 * The `rate_limits:` section of tollgate.yaml:
 *
 *   rate_limits:
 *     - id: search-team
 *       match: { team: search }
 *       rpm: 600
 *       tpm: 200000
 *       concurrency: 20
 *
 * Field names are snake_case as users write them, like the rest of the config.
 */

const perMinute = z.number().int().positive().max(MAX_LIMIT);

const SCOPE_KINDS = ['key', 'team', 'project', 'model'] as const satisfies readonly RateScopeKind[];

export const rateLimitMatchSchema = z
  .object({
    key: z.string().min(1).optional(),
    team: z.string().min(1).optional(),
    project: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
  })
  .strict()
  .refine((m) => SCOPE_KINDS.filter((k) => m[k] !== undefined).length === 1, {
    message: 'match exactly one of key, team, project, model',
  });

export const rateLimitSchema = z
  .object({
    id: idSchema,
    match: rateLimitMatchSchema,
    rpm: perMinute.optional(),
    tpm: perMinute.optional(),
    concurrency: perMinute.optional(),
  })
  .strict()
  .refine((r) => r.rpm !== undefined || r.tpm !== undefined || r.concurrency !== undefined, {
    message: 'a rate limit needs at least one of rpm, tpm, concurrency',
  });

export const rateLimitsSchema = z
  .array(rateLimitSchema)
  .default([])
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((r, i) => {
      if (seen.has(r.id))
        ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate rate limit id ${r.id}` });
      seen.add(r.id);
    });
  });

export type RawRateLimit = z.infer<typeof rateLimitSchema>;

export function compileRateLimits(raw: RawRateLimit[]): RateLimitRule[] {
  return raw.map((r) => {
    const kind = SCOPE_KINDS.find((k) => r.match[k] !== undefined);
    const value = kind === undefined ? undefined : r.match[kind];
    // The schema guarantees exactly one; this guards callers that skipped it.
    if (kind === undefined || value === undefined)
      throw new RangeError(`rate limit ${r.id}: match exactly one of key, team, project, model`);
    return {
      id: r.id,
      scope: { kind, value },
      rpm: r.rpm ?? null,
      tpm: r.tpm ?? null,
      concurrency: r.concurrency ?? null,
    };
  });
}

export interface KeyRateLimits {
  rpm?: number | null;
  tpm?: number | null;
  maxConcurrent?: number | null;
}

/** The id of the rule built from a key record's own limits. */
export function keyRuleId(keyId: string): string {
  return `key:${keyId}`;
}

/** A key record's own rpm/tpm/max_concurrent as a rule on that key; null when it has none. */
export function keyRateLimitRule(keyId: string, limits: KeyRateLimits): RateLimitRule | null {
  const rpm = limits.rpm ?? null;
  const tpm = limits.tpm ?? null;
  const concurrency = limits.maxConcurrent ?? null;
  if (rpm === null && tpm === null && concurrency === null) return null;
  return { id: keyRuleId(keyId), scope: { kind: 'key', value: keyId }, rpm, tpm, concurrency };
}
