import { alertsConfigProblems } from '../alerts/config.ts';
import type { BudgetPolicy, Selector, StoreDownPolicy, WindowSpec } from '../budget/types.ts';
import { defaultBucketMs, isValidTimeZone, parseDuration } from '../budget/windows.ts';
import { compileGuardrails, type Guardrail } from '../guardrails/rules.ts';
import { usdToNanos } from '../money.ts';
import { compileRateLimits } from '../ratelimit/config.ts';
import type { RateLimitRule } from '../ratelimit/types.ts';
import { compileRunaway, type RunawaySettings } from '../runaway/config.ts';
import { ConfigError } from './load.ts';
import type { RawBudget, RawConfig, RawModel, RawProvider } from './schema.ts';

/** Where the bundled price data lists each kind of provider's models. */
const PRICE_PROVIDER: Record<RawProvider['kind'], string> = {
  openai: 'openai',
  'openai-compatible': 'openai',
  azure: 'azure',
  anthropic: 'anthropic',
  bedrock: 'aws',
  gemini: 'google',
};

export interface ModelEntry {
  id: string;
  /** Price table key: the id for a model's first route, `id@provider` for the others. */
  priceKey: string;
  provider: string;
  upstreamModel: string;
  priceProvider: string;
  maxOutputTokens: number;
  contextWindow: number | null;
  prices: RawModel['prices'];
}

export interface ProviderEntry extends RawProvider {
  id: string;
}

export interface TeamSeed {
  id: string;
  org: string;
  name: string;
  costCenter: string | null;
  projects: { id: string; name: string }[];
}

/** Per-project feature allowlists (projects without one accept any feature). */
export interface AttributionRules {
  features: Map<string, ReadonlySet<string>>;
  unknownFeature: 'unattributed' | 'reject';
  unattributedLabel: string;
}

export interface CompiledConfig {
  raw: RawConfig;
  providers: Map<string, ProviderEntry>;
  /** Each model id's first route (the primary). */
  models: Map<string, ModelEntry>;
  /** Every provider serving a model id, in config order: the primary first, then reroute/failover targets. */
  routes: Map<string, ModelEntry[]>;
  policies: BudgetPolicy[];
  orgs: { id: string; name: string }[];
  teams: TeamSeed[];
  envs: Set<string>;
  guardrails: Guardrail[];
  attribution: AttributionRules;
  rateLimits: RateLimitRule[];
  runaway: RunawaySettings;
}

/** Runs a compile step whose RangeError names the bad field, collecting it as a config issue. */
function collect<T>(issues: string[], step: () => T, fallback: T): T {
  try {
    return step();
  } catch (err) {
    issues.push((err as Error).message);
    return fallback;
  }
}

function durationField(path: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new RangeError(`${path}: ${(err as Error).message}`);
  }
}

/** Turns a raw budget (YAML or admin API shape) into a policy; throws RangeError with the bad field. */
export function budgetFromRaw(raw: RawBudget): BudgetPolicy {
  let window: WindowSpec;
  if (raw.window.kind === 'calendar') {
    if (!isValidTimeZone(raw.window.tz))
      throw new RangeError(`window.tz: unknown time zone ${raw.window.tz}`);
    window = { kind: 'calendar', every: raw.window.every, tz: raw.window.tz };
  } else {
    const sizeMs = durationField('window.size', raw.window.size);
    const bucketMs = raw.window.bucket
      ? durationField('window.bucket', raw.window.bucket)
      : defaultBucketMs(sizeMs);
    if (bucketMs <= 0 || sizeMs % bucketMs !== 0) {
      throw new RangeError(`window.bucket: the window size must be a whole multiple of the bucket`);
    }
    window = { kind: 'rolling', sizeMs, bucketMs };
  }
  let usdNanos: number | null = null;
  if (raw.limit.usd != null) {
    try {
      usdNanos = usdToNanos(raw.limit.usd);
    } catch (err) {
      throw new RangeError(`limit.usd: ${(err as Error).message}`);
    }
  }
  let storeDown: StoreDownPolicy = { mode: 'closed' };
  const down = raw.on_store_down;
  if (down?.mode === 'open') {
    if (down.allowance_usd === undefined)
      throw new RangeError('on_store_down.allowance_usd: mode open needs an allowance');
    try {
      storeDown = { mode: 'open', allowanceNanos: usdToNanos(down.allowance_usd) };
    } catch (err) {
      throw new RangeError(`on_store_down.allowance_usd: ${(err as Error).message}`);
    }
  }
  const alerts = [...new Set(raw.alerts)].sort((a, b) => a - b);
  const match: Selector = {};
  for (const [k, v] of Object.entries(raw.match)) if (v !== undefined) match[k as keyof Selector] = v;
  return {
    id: raw.id,
    match,
    limit: { usdNanos, tokens: raw.limit.tokens ?? null, requests: raw.limit.requests ?? null },
    window,
    mode: raw.mode,
    alerts,
    clamp: raw.clamp,
    degrade: raw.degrade,
    onExhausted: raw.on_exhausted,
    storeDown,
  };
}

export function compileConfig(raw: RawConfig): CompiledConfig {
  const issues: string[] = [];
  const providers = new Map<string, ProviderEntry>();
  for (const [id, p] of Object.entries(raw.providers)) providers.set(id, { id, ...p });

  const models = new Map<string, ModelEntry>();
  const routes = new Map<string, ModelEntry[]>();
  raw.models.forEach((m, i) => {
    const siblings = routes.get(m.id) ?? [];
    if (siblings.some((s) => s.provider === m.provider))
      issues.push(`models.${i}.provider: model ${m.id} is already served by provider ${m.provider}`);
    if (!providers.has(m.provider)) issues.push(`models.${i}.provider: unknown provider ${m.provider}`);
    const entry: ModelEntry = {
      id: m.id,
      priceKey: siblings.length === 0 ? m.id : `${m.id}@${m.provider}`,
      provider: m.provider,
      upstreamModel: m.upstream_model ?? m.id,
      priceProvider: m.price_provider ?? PRICE_PROVIDER[providers.get(m.provider)?.kind ?? 'openai'],
      maxOutputTokens: m.max_output_tokens,
      contextWindow: m.context_window ?? null,
      prices: m.prices,
    };
    siblings.push(entry);
    routes.set(m.id, siblings);
    if (!models.has(m.id)) models.set(m.id, entry);
  });

  const orgs: CompiledConfig['orgs'] = [];
  const teams: TeamSeed[] = [];
  const teamIds = new Set<string>();
  raw.orgs.forEach((o, oi) => {
    orgs.push({ id: o.id, name: o.name ?? o.id });
    o.teams.forEach((t, ti) => {
      if (teamIds.has(t.id)) issues.push(`orgs.${oi}.teams.${ti}.id: duplicate team id ${t.id}`);
      teamIds.add(t.id);
      teams.push({
        id: t.id,
        org: o.id,
        name: t.name ?? t.id,
        costCenter: t.cost_center ?? null,
        projects: t.projects.map((p) => ({ id: p.id, name: p.name ?? p.id })),
      });
    });
  });

  const policies: BudgetPolicy[] = [];
  const policyIds = new Set<string>();
  raw.budgets.forEach((b, i) => {
    if (policyIds.has(b.id)) issues.push(`budgets.${i}.id: duplicate budget id ${b.id}`);
    policyIds.add(b.id);
    if (b.degrade && !models.has(b.degrade.to))
      issues.push(`budgets.${i}.degrade.to: unknown model ${b.degrade.to}`);
    if (b.match.model && !models.has(b.match.model))
      issues.push(`budgets.${i}.match.model: unknown model ${b.match.model}`);
    if (b.match.env && !raw.envs.includes(b.match.env))
      issues.push(`budgets.${i}.match.env: unknown env ${b.match.env}`);
    try {
      policies.push(budgetFromRaw(b));
    } catch (err) {
      issues.push(`budgets.${i}.${(err as Error).message}`);
    }
  });

  const features = new Map<string, ReadonlySet<string>>();
  for (const o of raw.orgs)
    for (const t of o.teams)
      for (const p of t.projects) if (p.features) features.set(p.id, new Set(p.features));
  const attribution: AttributionRules = {
    features,
    unknownFeature: raw.attribution.unknown_feature,
    unattributedLabel: raw.attribution.unattributed_label,
  };
  const guardrails = collect(issues, () => compileGuardrails(raw.guardrails), []);
  raw.guardrails.forEach((g, i) => {
    if (g.match.env && !raw.envs.includes(g.match.env))
      issues.push(`guardrails.${i}.match.env: unknown env ${g.match.env}`);
  });
  const rateLimits = collect(issues, () => compileRateLimits(raw.rate_limits), []);
  raw.rate_limits.forEach((r, i) => {
    if (r.match.model && !models.has(r.match.model))
      issues.push(`rate_limits.${i}.match.model: unknown model ${r.match.model}`);
  });
  const runaway = collect(issues, () => compileRunaway(raw.runaway), null);
  issues.push(...alertsConfigProblems(raw.alerts, policyIds));
  raw.budgets.forEach((b, i) => {
    if (b.on_exhausted === 'reroute' && b.match.model && (routes.get(b.match.model)?.length ?? 0) < 2)
      issues.push(`budgets.${i}.on_exhausted: reroute needs a model served by two or more providers`);
  });

  if (issues.length > 0 || runaway === null) throw new ConfigError('invalid config', issues);
  return {
    raw,
    providers,
    models,
    routes,
    policies,
    orgs,
    teams,
    envs: new Set(raw.envs),
    guardrails,
    attribution,
    rateLimits,
    runaway,
  };
}
