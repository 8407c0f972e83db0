import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { budgetStatusView } from '../../budget/status.ts';
import type { BudgetPolicy } from '../../budget/types.ts';
import { parseDuration, windowFingerprint } from '../../budget/windows.ts';
import { budgetFromRaw } from '../../config/compile.ts';
import { formatZodIssues } from '../../config/load.ts';
import { budgetSchema, idSchema, type RawBudget } from '../../config/schema.ts';
import { type Denial, denial } from '../../errors.ts';
import { publicKey } from '../../identity/keys.ts';
import { backfillPolicy } from '../../ledger/replay.ts';
import type { CallFilter, CallRecord, CallStatus, UsageDimension } from '../../ledger/types.ts';
import { formatUsd, nanosToUsdNumber } from '../../money.ts';
import { fail, ok, type Result } from '../../result.ts';
import type { KeyRecord, KeyScopes, TeamRow } from '../../store/interface.ts';
import { parseJsonObject, readBody, sendError, sendJson } from '../http.ts';
import type { Services } from '../services.ts';
import type { Route } from './types.ts';

type AdminHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string>,
) => Promise<void>;

class AdminError extends Error {
  constructor(readonly denial: Denial) {
    super(denial.message);
  }
}
const raise = (d: Denial): never => {
  throw new AdminError(d);
};

function masterKeyMatches(svc: Services, req: IncomingMessage): Result<true> {
  if (!svc.masterKey) {
    return fail(
      denial('admin_disabled', 'The admin API is disabled: set TOLLGATE_MASTER_KEY (or server.master_key).'),
    );
  }
  const auth = req.headers.authorization;
  const given = typeof auth === 'string' ? auth.replace(/^Bearer\s+/i, '').trim() : '';
  const a = Buffer.from(given);
  const b = Buffer.from(svc.masterKey);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    return fail(denial('admin_unauthorized', 'The admin API needs "Authorization: Bearer <master key>".'));
  }
  return ok(true);
}

/** Wraps a handler with the master-key check and turns AdminErrors into catalogued responses. */
export function guarded(svc: Services, handler: AdminHandler): AdminHandler {
  return async (req, res, params) => {
    const auth = masterKeyMatches(svc, req);
    if (!auth.ok) {
      req.resume();
      return sendError(res, auth.error);
    }
    try {
      await handler(req, res, params);
    } catch (err) {
      if (err instanceof AdminError) return sendError(res, err.denial);
      throw err;
    }
  };
}

async function jsonBody<S extends z.ZodType>(
  svc: Services,
  req: IncomingMessage,
  schema: S,
): Promise<z.infer<S>> {
  const raw = await readBody(req, svc.config.raw.server.max_body_bytes);
  if (!raw.ok) raise(raw.error);
  const body = parseJsonObject(raw.ok ? raw.value : Buffer.alloc(0), req.headers['content-type']);
  if (!body.ok) raise(body.error);
  const parsed = schema.safeParse(body.ok ? body.value : {});
  if (!parsed.success) {
    const issues = formatZodIssues(parsed.error);
    raise(
      denial('invalid_request', `Invalid request body: ${issues.join('; ')}`, {
        param: issues[0]?.split(':')[0] ?? null,
      }),
    );
  }
  return (parsed as { data: z.infer<S> }).data;
}

function query(req: IncomingMessage): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

function parseTime(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms))
    raise(denial('invalid_request', `${name} must be an ISO date or epoch milliseconds`, { param: name }));
  return ms;
}

function parseRelative(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  try {
    return now - parseDuration(value);
  } catch {
    return raise(
      denial('invalid_request', 'window must be a duration like 1h, 7d, 30d', { param: 'window' }),
    );
  }
}

const CALL_STATUSES: CallStatus[] = [
  'pending',
  'ok',
  'denied',
  'upstream_error',
  'client_aborted',
  'orphaned',
];

function callFilter(svc: Services, q: URLSearchParams): CallFilter {
  const status = q.get('status');
  if (status && !CALL_STATUSES.includes(status as CallStatus)) {
    raise(
      denial('invalid_request', `status must be one of ${CALL_STATUSES.join(', ')}`, { param: 'status' }),
    );
  }
  const limit = q.get('limit');
  if (limit !== null && !/^\d+$/.test(limit))
    raise(denial('invalid_request', 'limit must be an integer', { param: 'limit' }));
  const filter: CallFilter = {
    from: parseTime(q.get('from'), 'from') ?? parseRelative(q.get('window'), svc.clock()),
    to: parseTime(q.get('to'), 'to'),
    team: q.get('team') ?? undefined,
    project: q.get('project') ?? undefined,
    env: q.get('env') ?? undefined,
    keyId: q.get('key') ?? undefined,
    model: q.get('model') ?? undefined,
    status: (status as CallStatus | null) ?? undefined,
    requestId: q.get('request_id') ?? undefined,
    before: parseTime(q.get('before'), 'before'),
    limit: limit === null ? undefined : Number(limit),
  };
  return filter;
}

export function callView(r: CallRecord) {
  return {
    ...r,
    tsStart: new Date(r.tsStart).toISOString(),
    tsEnd: r.tsEnd === null ? null : new Date(r.tsEnd).toISOString(),
    costUsd: formatUsd(r.cost),
    reservedUsd: formatUsd(r.reserved),
  };
}

const usdField = z.union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?$/)]);

const teamBody = z
  .object({
    id: idSchema,
    org: idSchema.optional(),
    name: z.string().max(200).optional(),
    cost_center: z.string().max(200).nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const projectBody = z.object({ id: idSchema, team: idSchema, name: z.string().max(200).optional() }).strict();

const windowInput = z.union([z.string(), budgetSchema.shape.window]).optional();

const keyBody = z
  .object({
    team: idSchema,
    project: idSchema,
    env: idSchema,
    name: z.string().max(200).nullable().optional(),
    user: z.string().max(128).nullable().optional(),
    cost_center: z.string().max(200).nullable().optional(),
    models: z.array(z.string().min(1)).nullable().optional(),
    expires_at: z.string().nullable().optional(),
    expires_in: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    providers: z.array(z.string().min(1).max(128)).nullable().optional(),
    rpm: z.number().int().positive().nullable().optional(),
    tpm: z.number().int().positive().nullable().optional(),
    max_concurrent: z.number().int().positive().nullable().optional(),
    budget: z.object({ usd: usdField, window: windowInput }).strict().optional(),
    role: z.enum(['llm', 'dashboard_read']).optional(),
  })
  .strict();

interface ScopeInput {
  providers?: string[] | null;
  rpm?: number | null;
  tpm?: number | null;
  max_concurrent?: number | null;
}

/** Applies the scope fields a request names (null clears one) to the current scopes. */
function scopesFrom(current: KeyScopes, input: ScopeInput): KeyScopes {
  const next: KeyScopes = { ...current };
  const set = <K extends keyof KeyScopes>(k: K, v: KeyScopes[K] | null | undefined) => {
    if (v === undefined) return;
    if (v === null) delete next[k];
    else next[k] = v;
  };
  set('providers', input.providers);
  set('rpm', input.rpm);
  set('tpm', input.tpm);
  set('maxConcurrent', input.max_concurrent);
  return next;
}

const keyPatch = z
  .object({
    name: z.string().max(200).nullable().optional(),
    models: z.array(z.string().min(1)).nullable().optional(),
    expires_at: z.string().nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    providers: z.array(z.string().min(1).max(128)).nullable().optional(),
    rpm: z.number().int().positive().nullable().optional(),
    tpm: z.number().int().positive().nullable().optional(),
    max_concurrent: z.number().int().positive().nullable().optional(),
  })
  .strict();

/** PATCH names only what changes: no defaults may fill the fields it leaves out. */
const BUDGET_FIELDS = Object.keys(budgetSchema.shape).filter((k) => k !== 'id');
const budgetPatch = z
  .record(z.string(), z.unknown())
  .refine((o) => Object.keys(o).every((k) => BUDGET_FIELDS.includes(k)), {
    message: `only these fields can be changed: ${BUDGET_FIELDS.join(', ')}`,
  });

/** LiteLLM's `budget_duration` ("30d", "1h", "1mo") as a Tollgate window. */
function windowFromDuration(duration: string | undefined | null, param: string): RawBudget['window'] {
  if (!duration) return { kind: 'calendar', every: 'month', tz: 'UTC' };
  const mo = /^(\d+)mo$/.exec(duration);
  if (mo) {
    if (mo[1] !== '1') raise(denial('invalid_request', `${param} in months must be 1mo`, { param }));
    return { kind: 'calendar', every: 'month', tz: 'UTC' };
  }
  try {
    parseDuration(duration);
  } catch {
    raise(denial('invalid_request', `${param} must look like 30s, 30m, 1h, 7d or 1mo`, { param }));
  }
  return { kind: 'rolling', size: duration };
}

function windowFromInput(w: z.infer<typeof windowInput>): RawBudget['window'] {
  return typeof w === 'string' || w === undefined ? windowFromDuration(w, 'budget.window') : w;
}

/** A budget spec as the admin API would store it; raises a catalogued 400 naming the bad field. */
function checkedPolicy(svc: Services, spec: RawBudget): BudgetPolicy {
  let policy: BudgetPolicy;
  try {
    policy = budgetFromRaw(spec);
  } catch (err) {
    const message = (err as Error).message;
    const field = /^([a-z_.]+):/.exec(message)?.[1] ?? null;
    return raise(denial('invalid_request', message, { param: field }));
  }
  if (policy.degrade && !svc.config.models.has(policy.degrade.to)) {
    raise(
      denial('invalid_request', `degrade.to: unknown model ${policy.degrade.to}`, { param: 'degrade.to' }),
    );
  }
  return policy;
}

function keyBudgetSpec(keyId: string, usd: number | string, window: RawBudget['window']): RawBudget {
  return {
    id: `key:${keyId}`,
    match: { key: keyId },
    limit: { usd },
    window,
    mode: 'hard',
    alerts: [0.5, 0.8, 1],
    clamp: true,
    degrade: null,
    on_exhausted: 'deny',
  };
}

/** JSON merge patch (RFC 7386): nested objects merge, everything else replaces. */
/**
 * A window of another kind (calendar ↔ rolling) replaces the old one whole: merged field by
 * field, a rolling window would keep the calendar's `every` and be refused.
 */
function windowReplaced(spec: RawBudget, patch: Record<string, unknown>): { window?: unknown } {
  const next = patch.window;
  if (next === null || typeof next !== 'object' || Array.isArray(next)) return {};
  const kind = (next as Record<string, unknown>).kind;
  return kind !== undefined && kind !== spec.window.kind ? { window: next } : {};
}

function mergePatch(target: unknown, patch: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(patch) || !isObject(target)) return patch;
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch))
    out[k] = isObject(v) && isObject(out[k]) ? mergePatch(out[k], v) : v;
  return out;
}

function checkedId(value: string, param: string): string {
  const parsed = idSchema.safeParse(value);
  if (!parsed.success) {
    raise(
      denial('invalid_request', `${param} '${value}': ${parsed.error.issues[0]?.message ?? 'invalid id'}`, {
        param,
      }),
    );
  }
  return value;
}

function expiryFrom(
  svc: Services,
  atIso: string | null | undefined,
  inDuration: string | undefined,
): number | null {
  if (atIso) {
    const ms = Date.parse(atIso);
    if (!Number.isFinite(ms))
      raise(denial('invalid_request', 'expires_at must be an ISO date', { param: 'expires_at' }));
    return ms;
  }
  if (inDuration) {
    try {
      return svc.clock() + parseDuration(inDuration);
    } catch {
      raise(denial('invalid_request', 'expires_in must be a duration like 30d', { param: 'expires_in' }));
    }
  }
  return null;
}

export function adminRoutes(svc: Services): Route[] {
  const now = () => svc.clock();
  const configBudgetIds = () => new Set(svc.config.raw.budgets.map((b) => b.id));

  const defaultOrg = async (): Promise<string> => {
    const orgs = await svc.store.entities.listOrgs();
    if (orgs.length === 1 && orgs[0]) return orgs[0].id;
    if (orgs.length === 0) {
      await svc.store.entities.upsertOrg({ id: 'default', name: 'default', source: 'api' });
      return 'default';
    }
    return raise(denial('invalid_request', 'org is required when several orgs exist', { param: 'org' }));
  };

  const createTeam = async (input: z.infer<typeof teamBody>): Promise<TeamRow> => {
    const org = input.org ?? (await defaultOrg());
    if (!(await svc.store.entities.listOrgs()).some((o) => o.id === org)) {
      raise(denial('not_found', `org '${org}' does not exist`, { param: 'org' }));
    }
    if (await svc.store.entities.getTeam(input.id))
      raise(denial('conflict', `team '${input.id}' already exists`));
    const team: TeamRow = {
      id: input.id,
      org,
      name: input.name ?? input.id,
      costCenter: input.cost_center ?? null,
      source: 'api',
      metadata: input.metadata ?? {},
      createdAt: now(),
    };
    await svc.store.entities.upsertTeam(team);
    return team;
  };

  const ensureProject = async (team: string, id: string) => {
    const existing = await svc.store.entities.getProject(id);
    if (existing && existing.team !== team)
      raise(denial('conflict', `project '${id}' belongs to team '${existing.team}'`));
    if (!existing)
      await svc.store.entities.upsertProject({ id, team, name: id, source: 'api', createdAt: now() });
  };

  const policiesNow = async (): Promise<BudgetPolicy[]> => {
    const rows = await svc.store.entities.listBudgets();
    return rows.map((r) => budgetFromRaw(r.spec));
  };

  /**
   * `fresh`: the budget can have no spend yet (it matches only a key or team created by the same
   * request), so the ledger is not read for it.
   */
  const saveBudget = async (spec: RawBudget, isNew: boolean, fresh = false) => {
    const policy = checkedPolicy(svc, spec);
    const existing = (await svc.store.entities.listBudgets()).find((b) => b.id === spec.id);
    if (isNew && existing) raise(denial('conflict', `budget '${spec.id}' already exists`));
    // New counters start empty: a new budget, or one given another window, books what the ledger
    // already holds for its window (calls that started before now; later ones count live).
    const startsEmpty =
      !existing ||
      windowFingerprint(budgetFromRaw(existing.spec).window) !== windowFingerprint(policy.window);
    const cutoff = now();
    await svc.store.entities.upsertBudget({
      id: spec.id,
      spec,
      source: existing?.source ?? 'api',
      createdAt: existing?.createdAt ?? now(),
      updatedAt: now(),
    });
    if (startsEmpty && !fresh) {
      await svc.ledger.flush();
      await backfillPolicy(svc.store.ledger, svc.budgets.counters, policy, cutoff);
    }
    svc.budgets.replacePolicies(await policiesNow());
    return policy;
  };

  const createKey = async (input: z.infer<typeof keyBody>) => {
    const team = await svc.store.entities.getTeam(input.team);
    if (!team) raise(denial('not_found', `team '${input.team}' does not exist`, { param: 'team' }));
    const project = await svc.store.entities.getProject(input.project);
    if (!project)
      raise(denial('not_found', `project '${input.project}' does not exist`, { param: 'project' }));
    if (project && team && project.team !== team.id) {
      raise(
        denial('invalid_request', `project '${project.id}' belongs to team '${project.team}'`, {
          param: 'project',
        }),
      );
    }
    if (!svc.config.envs.has(input.env)) {
      raise(
        denial('invalid_request', `env must be one of ${[...svc.config.envs].join(', ')}`, { param: 'env' }),
      );
    }
    for (const m of input.models ?? []) {
      if (!m.endsWith('*') && !svc.config.models.has(m))
        raise(denial('invalid_request', `unknown model ${m}`, { param: 'models' }));
    }
    for (const pr of input.providers ?? []) {
      if (!pr.endsWith('*') && !svc.config.providers.has(pr))
        raise(denial('invalid_request', `unknown provider ${pr}`, { param: 'providers' }));
    }
    const expiresAt = expiryFrom(svc, input.expires_at, input.expires_in);
    // Everything is checked before anything is written: a refused request leaves nothing behind.
    const budgetWindow = input.budget ? windowFromInput(input.budget.window) : null;
    if (input.budget && budgetWindow)
      checkedPolicy(svc, keyBudgetSpec('key_check', input.budget.usd, budgetWindow));
    const created = await svc.keys.create({
      name: input.name ?? null,
      org: team?.org ?? '',
      team: input.team,
      project: input.project,
      env: input.env,
      user: input.user ?? null,
      costCenter: input.cost_center ?? team?.costCenter ?? null,
      models: input.models ?? null,
      expiresAt,
      metadata: input.metadata ?? {},
      scopes:
        input.role === 'dashboard_read'
          ? { ...scopesFrom({}, input), role: input.role }
          : scopesFrom({}, input),
    });
    let budget: BudgetPolicy | null = null;
    if (input.budget && budgetWindow) {
      budget = await saveBudget(keyBudgetSpec(created.key.id, input.budget.usd, budgetWindow), true, true);
    }
    return { ...created, budget };
  };

  const statusOf = async (p: BudgetPolicy) => ({
    ...budgetStatusView(p, await svc.budgets.state(p, now())),
    source: configBudgetIds().has(p.id) ? 'config' : 'api',
  });

  const routes: Array<[Route['method'], string, AdminHandler]> = [
    [
      'GET',
      '/admin/v1/orgs',
      async (_req, res) => sendJson(res, 200, { data: await svc.store.entities.listOrgs() }),
    ],
    [
      'GET',
      '/admin/v1/teams',
      async (req, res) =>
        sendJson(res, 200, { data: await svc.store.entities.listTeams(query(req).get('org') ?? undefined) }),
    ],
    [
      'POST',
      '/admin/v1/teams',
      async (req, res) => sendJson(res, 201, await createTeam(await jsonBody(svc, req, teamBody))),
    ],
    [
      'GET',
      '/admin/v1/teams/:id',
      async (_req, res, p) => {
        const team = await svc.store.entities.getTeam(p.id ?? '');
        if (!team) return raise(denial('not_found', `team '${p.id}' does not exist`));
        sendJson(res, 200, { ...team, projects: await svc.store.entities.listProjects(team.id) });
      },
    ],
    [
      'GET',
      '/admin/v1/projects',
      async (req, res) =>
        sendJson(res, 200, {
          data: await svc.store.entities.listProjects(query(req).get('team') ?? undefined),
        }),
    ],
    [
      'POST',
      '/admin/v1/projects',
      async (req, res) => {
        const input = await jsonBody(svc, req, projectBody);
        if (!(await svc.store.entities.getTeam(input.team))) {
          raise(denial('not_found', `team '${input.team}' does not exist`, { param: 'team' }));
        }
        if (await svc.store.entities.getProject(input.id))
          raise(denial('conflict', `project '${input.id}' already exists`));
        const row = {
          id: input.id,
          team: input.team,
          name: input.name ?? input.id,
          source: 'api' as const,
          createdAt: now(),
        };
        await svc.store.entities.upsertProject(row);
        sendJson(res, 201, row);
      },
    ],
    [
      'GET',
      '/admin/v1/keys',
      async (req, res) => {
        const q = query(req);
        const keys = svc.keys.list({
          team: q.get('team') ?? undefined,
          project: q.get('project') ?? undefined,
          includeRevoked: q.get('include_revoked') === 'true',
        });
        sendJson(res, 200, { data: keys.map(publicKey) });
      },
    ],
    [
      'POST',
      '/admin/v1/keys',
      async (req, res) => {
        const { key, secret, budget } = await createKey(await jsonBody(svc, req, keyBody));
        sendJson(res, 201, {
          ...publicKey(key),
          key: secret,
          budget: budget ? await statusOf(budget) : null,
        });
      },
    ],
    [
      'GET',
      '/admin/v1/keys/:id',
      async (_req, res, p) => {
        const key = svc.keys.get(p.id ?? '');
        if (!key) return raise(denial('not_found', `key '${p.id}' does not exist`));
        sendJson(res, 200, publicKey(key));
      },
    ],
    [
      'PATCH',
      '/admin/v1/keys/:id',
      async (req, res, p) => {
        const input = await jsonBody(svc, req, keyPatch);
        const current = svc.keys.get(p.id ?? '');
        if (!current) return raise(denial('not_found', `key '${p.id}' does not exist`));
        const patch: Partial<Pick<KeyRecord, 'name' | 'models' | 'expiresAt' | 'metadata' | 'scopes'>> = {
          scopes: scopesFrom(current.scopes, input),
        };
        if (input.name !== undefined) patch.name = input.name;
        if (input.models !== undefined) patch.models = input.models;
        if (input.expires_at !== undefined) patch.expiresAt = expiryFrom(svc, input.expires_at, undefined);
        if (input.metadata !== undefined) patch.metadata = input.metadata;
        const key = await svc.keys.update(p.id ?? '', patch);
        if (!key) return raise(denial('not_found', `key '${p.id}' does not exist`));
        sendJson(res, 200, publicKey(key));
      },
    ],
    [
      'DELETE',
      '/admin/v1/keys/:id',
      async (_req, res, p) => {
        const key = await svc.keys.revoke(p.id ?? '');
        if (!key) return raise(denial('not_found', `key '${p.id}' does not exist`));
        sendJson(res, 200, publicKey(key));
      },
    ],
    [
      'POST',
      '/admin/v1/keys/:id/rotate',
      async (req, res, p) => {
        req.resume();
        const rotated = await svc.keys.rotate(p.id ?? '');
        if (!rotated) return raise(denial('not_found', `active key '${p.id}' does not exist`));
        sendJson(res, 201, { ...publicKey(rotated.key), key: rotated.secret });
      },
    ],
    [
      'GET',
      '/admin/v1/budgets',
      async (_req, res) =>
        sendJson(res, 200, { data: await Promise.all(svc.budgets.policies().map(statusOf)) }),
    ],
    [
      'POST',
      '/admin/v1/budgets',
      async (req, res) => {
        const spec = await jsonBody(svc, req, budgetSchema);
        sendJson(res, 201, await statusOf(await saveBudget(spec, true)));
      },
    ],
    [
      'GET',
      '/admin/v1/budgets/:id',
      async (_req, res, p) => {
        const policy = svc.budgets.get(p.id ?? '');
        if (!policy) return raise(denial('not_found', `budget '${p.id}' does not exist`));
        sendJson(res, 200, await statusOf(policy));
      },
    ],
    [
      'PATCH',
      '/admin/v1/budgets/:id',
      async (req, res, p) => {
        const id = p.id ?? '';
        const patch = await jsonBody(svc, req, budgetPatch);
        if (configBudgetIds().has(id)) {
          raise(denial('conflict', `budget '${id}' is declared in the config file; change it there`));
        }
        const existing = (await svc.store.entities.listBudgets()).find((b) => b.id === id);
        if (!existing) return raise(denial('not_found', `budget '${id}' does not exist`));
        const merged = budgetSchema.safeParse({
          ...(mergePatch(existing.spec, patch) as Record<string, unknown>),
          ...windowReplaced(existing.spec, patch),
          id,
        });
        if (!merged.success) {
          const issues = formatZodIssues(merged.error);
          raise(denial('invalid_request', issues.join('; '), { param: issues[0]?.split(':')[0] ?? null }));
        }
        sendJson(res, 200, await statusOf(await saveBudget((merged as { data: RawBudget }).data, false)));
      },
    ],
    [
      'DELETE',
      '/admin/v1/budgets/:id',
      async (_req, res, p) => {
        const id = p.id ?? '';
        if (configBudgetIds().has(id))
          raise(denial('conflict', `budget '${id}' is declared in the config file`));
        if (!svc.budgets.get(id)) return raise(denial('not_found', `budget '${id}' does not exist`));
        await svc.store.entities.deleteBudget(id);
        svc.budgets.replacePolicies(await policiesNow());
        sendJson(res, 200, { id, deleted: true });
      },
    ],
    [
      'GET',
      '/admin/v1/calls',
      async (req, res) => {
        const rows = await svc.store.ledger.queryCalls(callFilter(svc, query(req)));
        sendJson(res, 200, { data: rows.map(callView) });
      },
    ],
    [
      'GET',
      '/admin/v1/usage',
      async (req, res) => {
        const q = query(req);
        const by = (q.get('by') ?? 'team') as UsageDimension;
        const dims: UsageDimension[] = [
          'team',
          'project',
          'env',
          'key',
          'model',
          'user',
          'feature',
          'provider',
          'cost_center',
        ];
        if (!dims.includes(by))
          raise(denial('invalid_request', `by must be one of ${dims.join(', ')}`, { param: 'by' }));
        const rows = await svc.store.ledger.usage(by, callFilter(svc, q));
        const total = rows.reduce((sum, r) => sum + r.cost, 0);
        sendJson(res, 200, {
          by,
          totalUsd: formatUsd(total),
          totalNanos: total,
          data: rows.map((r) => ({
            ...r,
            costUsd: formatUsd(r.cost),
            costUsdNumber: nanosToUsdNumber(r.cost),
          })),
        });
      },
    ],
    ...liteLlmCompat(svc, { createTeam, ensureProject, createKey, saveBudget }),
  ];
  return routes.map(([method, path, handler]) => ({ method, path, handler: guarded(svc, handler) }));
}

const liteTeamNew = z
  .object({
    team_alias: z.string().min(1).max(128),
    team_id: idSchema.optional(),
    organization_id: idSchema.optional(),
    max_budget: z.number().nonnegative().nullable().optional(),
    budget_duration: z.string().nullable().optional(),
    rpm_limit: z.number().int().positive().nullable().optional(),
    tpm_limit: z.number().int().positive().nullable().optional(),
    models: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

const liteKeyGenerate = z
  .object({
    team_id: idSchema,
    key_alias: z.string().max(200).nullable().optional(),
    user_id: z.string().max(128).nullable().optional(),
    models: z.array(z.string()).optional(),
    max_budget: z.number().nonnegative().nullable().optional(),
    budget_duration: z.string().nullable().optional(),
    duration: z.string().nullable().optional(),
    rpm_limit: z.number().int().positive().nullable().optional(),
    tpm_limit: z.number().int().positive().nullable().optional(),
    max_parallel_requests: z.number().int().positive().nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

interface AdminOps {
  createTeam: (input: z.infer<typeof teamBody>) => Promise<TeamRow>;
  ensureProject: (team: string, id: string) => Promise<void>;
  createKey: (
    input: z.infer<typeof keyBody>,
  ) => Promise<{ key: KeyRecord; secret: string; budget: BudgetPolicy | null }>;
  saveBudget: (spec: RawBudget, isNew: boolean) => Promise<BudgetPolicy>;
}

function rateBudgets(
  scope: 'team' | 'key',
  id: string,
  rpm?: number | null,
  tpm?: number | null,
): RawBudget[] {
  const base = {
    mode: 'hard' as const,
    alerts: [],
    clamp: false,
    degrade: null,
    on_exhausted: 'deny' as const,
  };
  const match = scope === 'team' ? { team: id } : { key: id };
  const out: RawBudget[] = [];
  // rpm/tpm are enforced as one-minute rolling budgets on requests and tokens: reserved like money, so they hold under bursts.
  if (rpm)
    out.push({
      ...base,
      id: `${scope}:${id}:rpm`,
      match,
      limit: { requests: rpm },
      window: { kind: 'rolling', size: '60s', bucket: '1s' },
    });
  if (tpm)
    out.push({
      ...base,
      id: `${scope}:${id}:tpm`,
      match,
      limit: { tokens: tpm },
      window: { kind: 'rolling', size: '60s', bucket: '1s' },
    });
  return out;
}

/** LiteLLM's admin field names, so existing scripts keep working. */
function liteLlmCompat(svc: Services, ops: AdminOps): Array<[Route['method'], string, AdminHandler]> {
  const meta = (m: Record<string, unknown> | undefined, field: string): string | undefined =>
    typeof m?.[field] === 'string' ? (m[field] as string) : undefined;
  return [
    [
      'POST',
      '/team/new',
      async (req, res) => {
        const input = await jsonBody(svc, req, liteTeamNew);
        const id = checkedId(
          input.team_id ??
            input.team_alias
              .toLowerCase()
              .replace(/[^a-z0-9._:-]+/g, '-')
              .replace(/^[-._:]+|-+$/g, ''),
          input.team_id ? 'team_id' : 'team_alias',
        );
        const project = meta(input.metadata, 'project');
        if (project) checkedId(project, 'metadata.project');
        const window = windowFromDuration(input.budget_duration, 'budget_duration');
        const team = await ops.createTeam({
          id,
          org: input.organization_id,
          name: input.team_alias,
          metadata: input.metadata ?? {},
        });
        if (project) await ops.ensureProject(team.id, project);
        const budgets: RawBudget[] = rateBudgets('team', team.id, input.rpm_limit, input.tpm_limit);
        if (input.max_budget != null) {
          budgets.push({
            id: `team:${team.id}`,
            match: { team: team.id },
            limit: { usd: input.max_budget },
            window,
            mode: 'hard',
            alerts: [0.5, 0.8, 1],
            clamp: true,
            degrade: null,
            on_exhausted: 'deny',
          });
        }
        for (const b of budgets) await ops.saveBudget(b, true);
        sendJson(res, 200, {
          team_id: team.id,
          team_alias: team.name,
          organization_id: team.org,
          max_budget: input.max_budget ?? null,
          budget_duration: input.budget_duration ?? null,
          rpm_limit: input.rpm_limit ?? null,
          tpm_limit: input.tpm_limit ?? null,
          models: input.models ?? [],
          metadata: team.metadata,
          budgets: budgets.map((b) => b.id),
        });
      },
    ],
    [
      'POST',
      '/key/generate',
      async (req, res) => {
        const input = await jsonBody(svc, req, liteKeyGenerate);
        const team = await svc.store.entities.getTeam(input.team_id);
        if (!team)
          return raise(denial('not_found', `team '${input.team_id}' does not exist`, { param: 'team_id' }));
        const projects = await svc.store.entities.listProjects(team.id);
        const project = meta(input.metadata, 'project') ?? meta(team.metadata, 'project') ?? projects[0]?.id;
        if (!project) {
          return raise(
            denial('invalid_request', 'metadata.project is required: the team has no project', {
              param: 'metadata.project',
            }),
          );
        }
        checkedId(project, 'metadata.project');
        const env = meta(input.metadata, 'env') ?? meta(team.metadata, 'env') ?? 'prod';
        if (!svc.config.envs.has(env)) {
          raise(
            denial('invalid_request', `env must be one of ${[...svc.config.envs].join(', ')}`, {
              param: 'metadata.env',
            }),
          );
        }
        if (input.max_budget != null) windowFromDuration(input.budget_duration, 'budget_duration');
        if (input.duration) {
          try {
            parseDuration(input.duration);
          } catch {
            raise(
              denial('invalid_request', 'duration must look like 30s, 30m, 1h or 30d', { param: 'duration' }),
            );
          }
        }
        await ops.ensureProject(team.id, project);
        const created = await ops.createKey({
          team: team.id,
          project,
          env,
          name: input.key_alias ?? null,
          user: input.user_id ?? null,
          models: input.models && input.models.length > 0 ? input.models : null,
          expires_in: input.duration ?? undefined,
          metadata: input.metadata ?? {},
          rpm: input.rpm_limit ?? null,
          tpm: input.tpm_limit ?? null,
          max_concurrent: input.max_parallel_requests ?? null,
          budget:
            input.max_budget != null
              ? {
                  usd: input.max_budget,
                  window: windowFromDuration(input.budget_duration, 'budget_duration'),
                }
              : undefined,
        });
        sendJson(res, 200, {
          key: created.secret,
          token_id: created.key.id,
          key_alias: created.key.name,
          key_name: created.key.prefix,
          team_id: team.id,
          user_id: created.key.user,
          models: created.key.models ?? [],
          max_budget: input.max_budget ?? null,
          budget_duration: input.budget_duration ?? null,
          rpm_limit: input.rpm_limit ?? null,
          tpm_limit: input.tpm_limit ?? null,
          expires: created.key.expiresAt === null ? null : new Date(created.key.expiresAt).toISOString(),
          metadata: { ...created.key.metadata, project, env },
        });
      },
    ],
  ];
}
