import type { Ingress } from '../ingress/types.ts';
import { keyRateLimitRule } from '../ratelimit/config.ts';
import type { RateLimitRule } from '../ratelimit/types.ts';
import type { Services } from '../server/services.ts';
import type { CallContext, Estimate } from './context.ts';

/** The rate limits on a call: the key record's own rpm/tpm/concurrency plus configured team/project/model rules. */
export function rateLimitRules(svc: Services, ctx: CallContext): RateLimitRule[] {
  const s = ctx.key.scopes;
  const own = keyRateLimitRule(ctx.key.id, { rpm: s.rpm, tpm: s.tpm, maxConcurrent: s.maxConcurrent });
  return svc.rateLimits.match(
    { keyId: ctx.key.id, team: ctx.identity.team, project: ctx.identity.project, model: ctx.identity.model },
    [own],
  );
}

/**
 * Tokens a call holds on its tpm limits until it settles: the input estimate plus the output it
 * asked for. A request that names no output cap would otherwise hold the model's whole output
 * allowance (16k+) and never fit a small tpm; it holds at most the smallest tpm instead, and
 * settlement corrects the charge to what it really used.
 */
export function rateTokens(
  ingress: Ingress,
  ctx: CallContext,
  est: Estimate,
  rules: RateLimitRule[],
): number {
  const worst = est.inputTokens + est.maxOutputTokens;
  if (ingress.outputFields.some((f) => typeof ctx.body[f] === 'number')) return worst;
  let smallestTpm = Number.POSITIVE_INFINITY;
  for (const r of rules) if (r.tpm !== null && r.tpm < smallestTpm) smallestTpm = r.tpm;
  return Math.min(worst, Math.max(est.inputTokens, smallestTpm));
}
