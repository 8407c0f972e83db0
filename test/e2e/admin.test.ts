import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, MASTER, startHarness } from '../helpers/harness.ts';

interface ErrorBody {
  error: { message: string; type: string; code: string; param?: string | null };
}
interface Money {
  usd: number;
  usdExact: string;
  nanos: number;
}
interface Amount extends Partial<Money> {
  tokens: number | null;
  requests: number | null;
}
interface BudgetView {
  id: string;
  mode: string;
  source: 'config' | 'api';
  limit: Amount;
  spent: Amount;
  reserved: Amount;
  remaining: Amount;
  windowStart: string;
  windowEnd: string;
  match: Record<string, string>;
  window: Record<string, unknown>;
  alerts: number[];
  clamp: boolean;
}
interface KeyView {
  id: string;
  key?: string;
  hash?: string;
  prefix: string;
  name: string | null;
  team: string;
  project: string;
  env: string;
  user: string | null;
  models: string[] | null;
  revokedAt: string | null;
  rotatedFrom: string | null;
}
interface CallView {
  callId: string;
  requestId: string | null;
  sessionId: string | null;
  keyId: string;
  team: string;
  project: string;
  env: string;
  user: string | null;
  feature: string | null;
  modelUsed: string;
  status: string;
  cost: number;
  denialPolicy: string | null;
}
interface UsageView {
  by: string;
  totalNanos: number;
  totalUsd: string;
  data: Array<{
    group: string | null;
    calls: number;
    cost: number;
    inputTokens: number;
    outputTokens: number;
  }>;
}

let h: Harness;
let disabled: Harness;

beforeAll(async () => {
  [h, disabled] = await Promise.all([
    startHarness({
      mock: { outputTokens: 20 },
      config: {
        budgets: [{ id: 'cfg-support', match: { team: 'support' }, limit: { usd: 100 } }],
      },
    }),
    // `config.server` replaces the harness's server block, so this gateway has no master key.
    startHarness({ config: { server: { port: 0 } } }),
  ]);
});
afterAll(async () => {
  await Promise.all([h?.close(), disabled?.close()]);
});

async function raw(
  base: string,
  method: string,
  path: string,
  auth: string | null,
  body?: unknown,
): Promise<{ status: number; body: ErrorBody }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as ErrorBody };
}

type ChatOutcome =
  | { ok: true; callId: string }
  | { ok: false; status: number | undefined; code: string | undefined; policy: string | null | undefined };

async function chat(
  secret: string,
  opts: { model?: string; headers?: Record<string, string>; user?: string; max?: number } = {},
): Promise<ChatOutcome> {
  try {
    const { response } = await h
      .openai(secret)
      .chat.completions.create(
        {
          model: opts.model ?? 'gpt-4.1-mini',
          messages: [{ role: 'user', content: 'hello there' }],
          max_tokens: opts.max ?? 50,
          ...(opts.user ? { user: opts.user } : {}),
        },
        { headers: opts.headers ?? {} },
      )
      .withResponse();
    return { ok: true, callId: response.headers.get('x-tollgate-call-id') ?? '' };
  } catch (err) {
    const e = err as { status?: number; code?: string; headers?: Headers };
    return { ok: false, status: e.status, code: e.code, policy: e.headers?.get('x-budget-exceeded') };
  }
}

async function rowOf(callId: string): Promise<CallView> {
  await h.gateway.services.ledger.flush();
  const r = await h.admin<{ data: CallView[] }>('GET', '/admin/v1/calls?limit=1000');
  const row = r.body.data.find((c) => c.callId === callId);
  if (!row) throw new Error(`no ledger row for ${callId}`);
  return row;
}

describe('admin API authentication', () => {
  const paths: Array<[string, string]> = [
    ['GET', '/admin/v1/teams'],
    ['POST', '/admin/v1/teams'],
    ['GET', '/admin/v1/keys'],
    ['POST', '/admin/v1/keys'],
    ['GET', '/admin/v1/budgets'],
    ['GET', '/admin/v1/calls'],
    ['GET', '/admin/v1/usage?by=team'],
    ['POST', '/team/new'],
    ['POST', '/key/generate'],
  ];

  it('a missing or wrong master key gets 401 admin_unauthorized on every admin route', async () => {
    for (const [method, path] of paths) {
      for (const auth of [null, 'Bearer wrong-key', `Bearer ${MASTER}x`, MASTER.slice(0, -1), 'Basic abc']) {
        const r = await raw(h.gateway.url, method, path, auth, method === 'POST' ? { id: 'x' } : undefined);
        expect(r.status, `${method} ${path} with ${auth}`).toBe(401);
        expect(r.body.error.code).toBe('admin_unauthorized');
      }
    }
    // A virtual key is not an admin credential.
    const k = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
    const r = await raw(h.gateway.url, 'GET', '/admin/v1/keys', `Bearer ${k.secret}`);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('admin_unauthorized');
  });

  it('the master key works as a bearer token', async () => {
    const r = await raw(h.gateway.url, 'GET', '/admin/v1/teams', `Bearer ${MASTER}`);
    expect(r.status).toBe(200);
  });

  it('with no master key configured the admin API is disabled (403 admin_disabled)', async () => {
    for (const [method, path] of paths) {
      for (const auth of [null, `Bearer ${MASTER}`, 'Bearer ']) {
        const r = await raw(disabled.gateway.url, method, path, auth, method === 'POST' ? {} : undefined);
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(r.body.error.code).toBe('admin_disabled');
      }
    }
  });
});

describe('teams and projects', () => {
  it('creates and lists teams; a duplicate id is 409', async () => {
    const created = await h.admin<{ id: string; org: string; name: string; costCenter: string | null }>(
      'POST',
      '/admin/v1/teams',
      { id: 'growth', name: 'Growth', cost_center: 'CC-9' },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'growth', org: 'acme', name: 'Growth', costCenter: 'CC-9' });

    const list = await h.admin<{ data: Array<{ id: string; source: string }> }>('GET', '/admin/v1/teams');
    expect(list.status).toBe(200);
    const ids = list.body.data.map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining(['search', 'support', 'growth']));
    expect(list.body.data.find((t) => t.id === 'growth')?.source).toBe('api');
    expect(list.body.data.find((t) => t.id === 'search')?.source).toBe('config');

    const dup = await h.admin<ErrorBody>('POST', '/admin/v1/teams', { id: 'growth' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('conflict');
    const dupConfig = await h.admin<ErrorBody>('POST', '/admin/v1/teams', { id: 'search' });
    expect(dupConfig.status).toBe(409);
  });

  it('rejects bad team bodies with 400 and a param', async () => {
    const bad = await h.admin<ErrorBody>('POST', '/admin/v1/teams', { id: 'has space' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(bad.body.error.param).toBe('id');
    const unknownOrg = await h.admin<ErrorBody>('POST', '/admin/v1/teams', { id: 'orphan', org: 'nope' });
    expect(unknownOrg.status).toBe(404);
  });

  it('a project must belong to an existing team; duplicates are 409', async () => {
    const created = await h.admin<{ id: string; team: string }>('POST', '/admin/v1/projects', {
      id: 'funnel',
      team: 'growth',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'funnel', team: 'growth' });

    const noTeam = await h.admin<ErrorBody>('POST', '/admin/v1/projects', { id: 'lost', team: 'ghosts' });
    expect(noTeam.status).toBe(404);
    expect(noTeam.body.error.code).toBe('not_found');
    expect(noTeam.body.error.param).toBe('team');

    const dup = await h.admin<ErrorBody>('POST', '/admin/v1/projects', { id: 'funnel', team: 'growth' });
    expect(dup.status).toBe(409);
    const dupOtherTeam = await h.admin<ErrorBody>('POST', '/admin/v1/projects', {
      id: 'ranker',
      team: 'growth',
    });
    expect(dupOtherTeam.status).toBe(409);

    const all = await h.admin<{ data: Array<{ id: string; team: string }> }>('GET', '/admin/v1/projects');
    expect(all.body.data.map((p) => p.id)).toEqual(expect.arrayContaining(['ranker', 'bot', 'funnel']));
    const growth = await h.admin<{ data: Array<{ id: string; team: string }> }>(
      'GET',
      '/admin/v1/projects?team=growth',
    );
    expect(growth.body.data).toEqual([expect.objectContaining({ id: 'funnel', team: 'growth' })]);
  });
});

describe('keys', () => {
  it('create returns the secret once; GET never shows key or hash', async () => {
    const created = await h.admin<KeyView>('POST', '/admin/v1/keys', {
      team: 'growth',
      project: 'funnel',
      env: 'dev',
      name: 'first',
    });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^tg-/);
    expect(created.body).not.toHaveProperty('hash');
    expect(created.body).toMatchObject({ team: 'growth', project: 'funnel', env: 'dev', name: 'first' });
    const secret = created.body.key ?? '';
    expect(created.body.prefix).toBe(`${secret.slice(0, 9)}…`);

    const one = await h.admin<KeyView>('GET', `/admin/v1/keys/${created.body.id}`);
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('key');
    expect(one.body).not.toHaveProperty('hash');
    expect(JSON.stringify(one.body)).not.toContain(secret.slice(9));

    const list = await h.admin<{ data: KeyView[] }>('GET', '/admin/v1/keys?team=growth');
    expect(list.body.data.map((k) => k.id)).toContain(created.body.id);
    for (const k of list.body.data) {
      expect(k).not.toHaveProperty('key');
      expect(k).not.toHaveProperty('hash');
      expect(k.team).toBe('growth');
    }
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(9));

    expect(await chat(secret)).toMatchObject({ ok: true });
  });

  it('validates the binding: unknown team/project 404, project of another team 400, unknown env 400', async () => {
    const unknownTeam = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'nope',
      project: 'ranker',
      env: 'dev',
    });
    expect(unknownTeam.status).toBe(404);
    expect(unknownTeam.body.error.param).toBe('team');
    const unknownProject = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'nope',
      env: 'dev',
    });
    expect(unknownProject.status).toBe(404);
    const crossTeam = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'bot',
      env: 'dev',
    });
    expect(crossTeam.status).toBe(400);
    expect(crossTeam.body.error.param).toBe('project');
    const badEnv = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'qa',
    });
    expect(badEnv.status).toBe(400);
    expect(badEnv.body.error.param).toBe('env');
    const badModel = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'dev',
      models: ['gpt-99'],
    });
    expect(badModel.status).toBe(400);
    const unknownField = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'search',
      project: 'ranker',
      env: 'dev',
      hash: 'abc',
    });
    expect(unknownField.status).toBe(400);
  });

  it('a key refused for a bad budget window leaves no key behind', async () => {
    const before = await h.admin<{ data: KeyView[] }>('GET', '/admin/v1/keys?team=growth');
    const bad = await h.admin<ErrorBody>('POST', '/admin/v1/keys', {
      team: 'growth',
      project: 'funnel',
      env: 'dev',
      budget: { usd: 1, window: 'fortnightly' },
    });
    expect(bad.status).toBe(400);
    const after = await h.admin<{ data: KeyView[] }>('GET', '/admin/v1/keys?team=growth');
    expect(after.body.data.map((k) => k.id).sort()).toEqual(before.body.data.map((k) => k.id).sort());
  });

  it('DELETE revokes: the key leaves the default listing and stops working', async () => {
    const k = await h.createKey({ team: 'growth', project: 'funnel', env: 'dev' });
    expect(await chat(k.secret)).toMatchObject({ ok: true });
    const del = await h.admin<KeyView>('DELETE', `/admin/v1/keys/${k.id}`);
    expect(del.status).toBe(200);
    expect(del.body.revokedAt).not.toBeNull();
    expect(del.body).not.toHaveProperty('hash');
    expect(await chat(k.secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });

    const active = await h.admin<{ data: KeyView[] }>('GET', '/admin/v1/keys');
    expect(active.body.data.map((x) => x.id)).not.toContain(k.id);
    const all = await h.admin<{ data: KeyView[] }>('GET', '/admin/v1/keys?include_revoked=true');
    expect(all.body.data.map((x) => x.id)).toContain(k.id);

    const missing = await h.admin<ErrorBody>('DELETE', '/admin/v1/keys/key_nope');
    expect(missing.status).toBe(404);
  });

  it('rotate issues a new secret for the same key: id, binding and budgets stay; the old secret is refused', async () => {
    const k = await h.createKey({ team: 'growth', project: 'funnel', env: 'staging', name: 'rot' });
    const rotated = await h.admin<KeyView & { metadata: Record<string, unknown> }>(
      'POST',
      `/admin/v1/keys/${k.id}/rotate`,
    );
    expect(rotated.status).toBe(201);
    expect(rotated.body.key).toMatch(/^tg-/);
    expect(rotated.body.key).not.toBe(k.secret);
    expect(rotated.body).not.toHaveProperty('hash');
    expect(rotated.body).toMatchObject({
      id: k.id,
      team: 'growth',
      project: 'funnel',
      env: 'staging',
      name: 'rot',
      revokedAt: null,
    });
    expect(typeof rotated.body.metadata.rotatedAt).toBe('string');
    expect(await chat(k.secret)).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
    expect(await chat(rotated.body.key ?? '')).toMatchObject({ ok: true });
    // Rotating again retires the second secret too.
    const again = await h.admin<KeyView>('POST', `/admin/v1/keys/${k.id}/rotate`);
    expect(again.status).toBe(201);
    expect(await chat(rotated.body.key ?? '')).toMatchObject({ ok: false, status: 401, code: 'key_revoked' });
  });

  it('PATCH changes name and the model allowlist, enforced on the next call', async () => {
    const k = await h.createKey({ team: 'growth', project: 'funnel', env: 'dev' });
    expect(await chat(k.secret, { model: 'gpt-4o-mini' })).toMatchObject({ ok: true });
    const patched = await h.admin<KeyView>('PATCH', `/admin/v1/keys/${k.id}`, {
      name: 'renamed',
      models: ['gpt-4.1-mini'],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'renamed', models: ['gpt-4.1-mini'] });
    expect(patched.body).not.toHaveProperty('hash');
    expect(patched.body).not.toHaveProperty('key');
    expect(await chat(k.secret, { model: 'gpt-4o-mini' })).toMatchObject({
      ok: false,
      status: 403,
      code: 'model_not_allowed',
    });
    expect(await chat(k.secret, { model: 'gpt-4.1-mini' })).toMatchObject({ ok: true });

    const rebind = await h.admin<ErrorBody>('PATCH', `/admin/v1/keys/${k.id}`, { team: 'search' });
    expect(rebind.status).toBe(400);
    const missing = await h.admin<ErrorBody>('PATCH', '/admin/v1/keys/key_nope', { name: 'x' });
    expect(missing.status).toBe(404);
  });
});

describe('budgets', () => {
  it('lists config and API budgets with limit, spent, reserved, remaining and window', async () => {
    const list = await h.admin<{ data: BudgetView[] }>('GET', '/admin/v1/budgets');
    expect(list.status).toBe(200);
    const cfg = list.body.data.find((b) => b.id === 'cfg-support');
    expect(cfg).toMatchObject({ source: 'config', mode: 'hard' });
    expect(cfg?.limit.nanos).toBe(100_000_000_000);
    const one = await h.admin<BudgetView>('GET', '/admin/v1/budgets/cfg-support');
    expect(one.status).toBe(200);
    const b = one.body;
    const start = Date.parse(b.windowStart);
    const end = Date.parse(b.windowEnd);
    expect(start).toBeLessThanOrEqual(Date.now());
    expect(end).toBeGreaterThan(Date.now());
    expect(b.remaining.nanos).toBe((b.limit.nanos ?? 0) - (b.spent.nanos ?? 0) - (b.reserved.nanos ?? 0));
    const missing = await h.admin<ErrorBody>('GET', '/admin/v1/budgets/nope');
    expect(missing.status).toBe(404);
  });

  it('shows the reservation of an in-flight call, then settles it', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    const before = (await h.admin<BudgetView>('GET', '/admin/v1/budgets/cfg-support')).body;
    const pending = chat(k.secret, { headers: { 'x-mock-latency-ms': '600' }, max: 1000 });
    let during: BudgetView | null = null;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const b = (await h.admin<BudgetView>('GET', '/admin/v1/budgets/cfg-support')).body;
      if ((b.reserved.nanos ?? 0) > 0) {
        during = b;
        break;
      }
    }
    expect(during).not.toBeNull();
    expect(during?.remaining.nanos).toBe(
      (during?.limit.nanos ?? 0) - (during?.spent.nanos ?? 0) - (during?.reserved.nanos ?? 0),
    );
    const done = await pending;
    expect(done.ok).toBe(true);
    const after = (await h.admin<BudgetView>('GET', '/admin/v1/budgets/cfg-support')).body;
    expect(after.reserved.nanos).toBe(0);
    const row = done.ok ? await rowOf(done.callId) : null;
    expect(after.spent.nanos).toBe((before.spent.nanos ?? 0) + (row?.cost ?? -1));
    expect(row?.cost).toBeGreaterThan(0);
    expect(row?.cost).toBeLessThan(during?.reserved.nanos ?? 0);
  });

  it('a budget created through the API is enforced on the next call; raising its limit unblocks', async () => {
    await h.admin('POST', '/admin/v1/projects', { id: 'checkout', team: 'growth' });
    const k = await h.createKey({ team: 'growth', project: 'checkout', env: 'prod' });
    const before = await chat(k.secret);
    expect(before).toMatchObject({ ok: true });

    const created = await h.admin<BudgetView>('POST', '/admin/v1/budgets', {
      id: 'growth-checkout',
      match: { team: 'growth', project: 'checkout' },
      limit: { usd: 0.000001 },
      clamp: false,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'growth-checkout', source: 'api' });
    expect(created.body.limit.nanos).toBe(1000);

    const denied = await chat(k.secret);
    expect(denied).toEqual({ ok: false, status: 429, code: 'budget_exceeded', policy: 'growth-checkout' });

    const dup = await h.admin<ErrorBody>('POST', '/admin/v1/budgets', {
      id: 'growth-checkout',
      limit: { usd: 1 },
    });
    expect(dup.status).toBe(409);

    const patched = await h.admin<BudgetView>('PATCH', '/admin/v1/budgets/growth-checkout', {
      limit: { usd: 25 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.limit.nanos).toBe(25_000_000_000);
    const ok = await chat(k.secret);
    expect(ok.ok).toBe(true);
    const status = (await h.admin<BudgetView>('GET', '/admin/v1/budgets/growth-checkout')).body;
    const row = ok.ok ? await rowOf(ok.callId) : null;
    const earlier = before.ok ? await rowOf(before.callId) : null;
    // The call made before the budget existed counts too: it is in the budget's window.
    expect(status.spent.nanos).toBe((earlier?.cost ?? 0) + (row?.cost ?? 0));
    expect(earlier?.cost).toBeGreaterThan(0);

    const deleted = await h.admin<{ id: string; deleted: boolean }>(
      'DELETE',
      '/admin/v1/budgets/growth-checkout',
    );
    expect(deleted.body).toEqual({ id: 'growth-checkout', deleted: true });
    expect((await h.admin('GET', '/admin/v1/budgets/growth-checkout')).status).toBe(404);
    expect((await h.admin('DELETE', '/admin/v1/budgets/growth-checkout')).status).toBe(404);
    const list = await h.admin<{ data: BudgetView[] }>('GET', '/admin/v1/budgets');
    expect(list.body.data.map((b) => b.id)).not.toContain('growth-checkout');
  });

  it('PATCH changes only the fields it names (match, window, clamp, alerts are kept)', async () => {
    const spec = {
      id: 'support-bot-daily',
      match: { team: 'support', project: 'bot', env: 'prod' },
      limit: { usd: 3 },
      window: { kind: 'rolling', size: '1d', bucket: '1h' },
      mode: 'soft',
      alerts: [0.9],
      clamp: false,
    };
    const created = await h.admin<BudgetView>('POST', '/admin/v1/budgets', spec);
    expect(created.status).toBe(201);
    const keep = (b: BudgetView) => ({
      match: b.match,
      window: b.window,
      mode: b.mode,
      alerts: b.alerts,
      clamp: b.clamp,
    });
    const patched = await h.admin<BudgetView>('PATCH', '/admin/v1/budgets/support-bot-daily', {
      limit: { usd: 4 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.limit.nanos).toBe(4_000_000_000);
    expect(keep(patched.body)).toEqual(keep(created.body));
    // A call outside the selector must not count against it.
    const other = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
    expect((await chat(other.secret)).ok).toBe(true);
    const after = await h.admin<BudgetView>('GET', '/admin/v1/budgets/support-bot-daily');
    expect(after.body.spent.nanos).toBe(0);
    await h.admin('DELETE', '/admin/v1/budgets/support-bot-daily');
  });

  it('a denied call is on the ledger with its policy', async () => {
    const r = await h.admin<{ data: CallView[] }>('GET', '/admin/v1/calls?status=denied&limit=100');
    expect(r.status).toBe(200);
    expect(r.body.data.some((c) => c.denialPolicy === 'growth-checkout' && c.cost === 0)).toBe(true);
    for (const c of r.body.data) expect(c.status).toBe('denied');
  });

  it('a config-declared budget cannot be PATCHed or DELETEd (409)', async () => {
    const patch = await h.admin<ErrorBody>('PATCH', '/admin/v1/budgets/cfg-support', { limit: { usd: 1 } });
    expect(patch.status).toBe(409);
    expect(patch.body.error.code).toBe('conflict');
    const del = await h.admin<ErrorBody>('DELETE', '/admin/v1/budgets/cfg-support');
    expect(del.status).toBe(409);
    const still = await h.admin<BudgetView>('GET', '/admin/v1/budgets/cfg-support');
    expect(still.body.limit.nanos).toBe(100_000_000_000);
  });

  it('rejects invalid budget bodies with 400', async () => {
    const noLimit = await h.admin<ErrorBody>('POST', '/admin/v1/budgets', { id: 'b1', limit: {} });
    expect(noLimit.status).toBe(400);
    const badUsd = await h.admin<ErrorBody>('POST', '/admin/v1/budgets', {
      id: 'b2',
      limit: { usd: 'lots' },
    });
    expect(badUsd.status).toBe(400);
    expect(badUsd.body.error.param).toBe('limit.usd');
    const badTz = await h.admin<ErrorBody>('POST', '/admin/v1/budgets', {
      id: 'b3',
      limit: { usd: 1 },
      window: { kind: 'calendar', every: 'day', tz: 'Mars/Olympus' },
    });
    expect(badTz.status).toBe(400);
    const badPatch = await h.admin<ErrorBody>('PATCH', '/admin/v1/budgets/nope', { limit: { usd: 1 } });
    expect(badPatch.status).toBe(404);
  });
});

describe('request context and attribution on the ledger row', () => {
  let k: { id: string; secret: string };
  beforeAll(async () => {
    k = await h.createKey({ team: 'search', project: 'ranker', env: 'staging' });
  });

  it('x-tollgate-request-id and x-tollgate-feature headers', async () => {
    const r = await chat(k.secret, {
      headers: { 'x-tollgate-request-id': 'req-hdr-1', 'x-tollgate-feature': 'summarize' },
    });
    expect(r.ok).toBe(true);
    const row = r.ok ? await rowOf(r.callId) : null;
    expect(row).toMatchObject({ requestId: 'req-hdr-1', feature: 'summarize', keyId: k.id });
  });

  it('W3C baggage request_id, feature_id and session_id', async () => {
    const r = await chat(k.secret, {
      headers: { baggage: 'request_id=req-bag-1,feature_id=chat%2Fsearch;prop=1, session_id=s-9' },
    });
    expect(r.ok).toBe(true);
    const row = r.ok ? await rowOf(r.callId) : null;
    expect(row).toMatchObject({ requestId: 'req-bag-1', feature: 'chat/search', sessionId: 's-9' });
  });

  it('explicit x-tollgate-* headers win over baggage', async () => {
    const r = await chat(k.secret, {
      headers: {
        'x-tollgate-request-id': 'req-both',
        'x-tollgate-feature': 'hdr-feature',
        baggage: 'request_id=req-other,feature_id=bag-feature',
      },
    });
    const row = r.ok ? await rowOf(r.callId) : null;
    expect(row).toMatchObject({ requestId: 'req-both', feature: 'hdr-feature' });
  });

  it('an invalid context value is a 400, not a silent drop', async () => {
    const r = await chat(k.secret, { headers: { 'x-tollgate-feature': 'bad feature!' } });
    expect(r).toMatchObject({ ok: false, status: 400, code: 'invalid_request' });
  });

  it('body `user` is recorded when the key has no user; a key bound to a user keeps its own', async () => {
    const free = await chat(k.secret, { user: 'alice' });
    expect((free.ok ? await rowOf(free.callId) : null)?.user).toBe('alice');
    const bound = await h.createKey({ team: 'search', project: 'ranker', env: 'staging', user: 'bob' });
    const r = await chat(bound.secret, { user: 'alice', headers: { 'x-tollgate-user': 'mallory' } });
    expect((r.ok ? await rowOf(r.callId) : null)?.user).toBe('bob');
  });

  it('identity headers from the client are ignored: team/project/env come from the key', async () => {
    const r = await chat(k.secret, { headers: { 'x-tollgate-team': 'support', 'x-tollgate-env': 'prod' } });
    const row = r.ok ? await rowOf(r.callId) : null;
    expect(row).toMatchObject({ team: 'search', project: 'ranker', env: 'staging' });
  });
});

describe('calls and usage queries', () => {
  const used: Record<string, { id: string; secret: string }> = {};
  beforeAll(async () => {
    used.a = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    used.b = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    used.c = await h.createKey({ team: 'growth', project: 'funnel', env: 'staging' });
    const plan: Array<[string, string, number]> = [
      ['a', 'gpt-4.1-mini', 3],
      ['a', 'gpt-4o-mini', 2],
      ['b', 'gpt-4.1', 2],
      ['c', 'gpt-4o-mini', 1],
    ];
    for (const [who, model, n] of plan) {
      for (let i = 0; i < n; i++) {
        const r = await chat(used[who]?.secret ?? '', {
          model,
          headers: { 'x-tollgate-request-id': `rq-${who}` },
        });
        expect(r.ok).toBe(true);
      }
    }
    await h.gateway.services.ledger.flush();
  });

  const calls = async (q: string) => {
    const r = await h.admin<{ data: CallView[] }>('GET', `/admin/v1/calls?${q}`);
    expect(r.status).toBe(200);
    return r.body.data;
  };

  it('filters by key, team, env, model, status, request_id and limits the page', async () => {
    const byKey = await calls(`key=${used.a?.id}`);
    expect(byKey).toHaveLength(5);
    expect(byKey.every((c) => c.keyId === used.a?.id && c.team === 'search')).toBe(true);

    const byTeam = await calls('team=support&limit=1000');
    expect(byTeam.length).toBeGreaterThanOrEqual(2);
    expect(byTeam.every((c) => c.team === 'support')).toBe(true);

    const byEnv = await calls('env=dev&limit=1000');
    expect(byEnv.length).toBeGreaterThan(0);
    expect(byEnv.every((c) => c.env === 'dev')).toBe(true);

    const byModel = await calls(`model=gpt-4o-mini&key=${used.a?.id}`);
    expect(byModel).toHaveLength(2);
    expect(byModel.every((c) => c.modelUsed === 'gpt-4o-mini')).toBe(true);

    const byStatus = await calls(`status=ok&key=${used.c?.id}`);
    expect(byStatus).toHaveLength(1);

    const byRequest = await calls('request_id=rq-b');
    expect(byRequest).toHaveLength(2);
    expect(byRequest.every((c) => c.keyId === used.b?.id)).toBe(true);

    const limited = await calls(`key=${used.a?.id}&limit=2`);
    expect(limited).toHaveLength(2);

    const combined = await calls(`team=search&env=prod&model=gpt-4.1-mini&key=${used.a?.id}`);
    expect(combined).toHaveLength(3);
  });

  it('rejects bad filters with 400', async () => {
    expect((await h.admin<ErrorBody>('GET', '/admin/v1/calls?status=great')).status).toBe(400);
    expect((await h.admin<ErrorBody>('GET', '/admin/v1/calls?limit=ten')).status).toBe(400);
    expect((await h.admin<ErrorBody>('GET', '/admin/v1/calls?from=yesterday-ish')).status).toBe(400);
    expect((await h.admin<ErrorBody>('GET', '/admin/v1/usage?by=planet')).status).toBe(400);
  });

  it('usage by team, project, env, key and model sums to the ledger rows', async () => {
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ limit: 10_000 });
    const field: Record<string, (c: (typeof rows)[number]) => string | null> = {
      team: (c) => c.team,
      project: (c) => c.project,
      env: (c) => c.env,
      key: (c) => c.keyId,
      model: (c) => c.modelUsed,
    };
    const total = rows.reduce((s, r) => s + r.cost, 0);
    expect(total).toBeGreaterThan(0);
    for (const [by, get] of Object.entries(field)) {
      const u = await h.admin<UsageView>('GET', `/admin/v1/usage?by=${by}`);
      expect(u.status).toBe(200);
      expect(u.body.by).toBe(by);
      expect(u.body.totalNanos, by).toBe(total);
      expect(u.body.data.reduce((s, d) => s + d.cost, 0)).toBe(total);
      expect(u.body.data.reduce((s, d) => s + d.calls, 0)).toBe(rows.length);
      const expected = new Map<string | null, { cost: number; calls: number }>();
      for (const r of rows) {
        const g = get(r);
        const e = expected.get(g) ?? { cost: 0, calls: 0 };
        e.cost += r.cost;
        e.calls += 1;
        expected.set(g, e);
      }
      expect(u.body.data).toHaveLength(expected.size);
      for (const d of u.body.data)
        expect({ by, group: d.group, cost: d.cost, calls: d.calls }).toEqual({
          by,
          group: d.group,
          ...expected.get(d.group),
        });
    }
    const keyA = await h.admin<UsageView>('GET', `/admin/v1/usage?by=model&key=${used.a?.id}`);
    expect(keyA.body.data.map((d) => [d.group, d.calls]).sort()).toEqual([
      ['gpt-4.1-mini', 3],
      ['gpt-4o-mini', 2],
    ]);
  });
});
