import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

interface ErrorBody {
  error: { message: string; code: string; param?: string | null };
}
interface TeamNew {
  team_id: string;
  team_alias: string;
  organization_id: string;
  max_budget: number | null;
  budget_duration: string | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  metadata: Record<string, unknown>;
  budgets: string[];
}
interface KeyGenerate {
  key: string;
  token_id: string;
  key_alias: string | null;
  key_name: string;
  team_id: string;
  user_id: string | null;
  models: string[];
  max_budget: number | null;
  budget_duration: string | null;
  rpm_limit?: number | null;
  tpm_limit?: number | null;
  expires: string | null;
  metadata: Record<string, unknown>;
}
interface BudgetView {
  limit: { nanos?: number; requests: number | null; tokens: number | null };
  spent: { nanos?: number; requests: number | null };
  reserved: { nanos?: number };
  window: { kind: string; sizeMs?: number };
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ mock: { outputTokens: 8 } });
});
afterAll(async () => h.close());

type Outcome =
  | { ok: true; callId: string }
  | { ok: false; status: number | undefined; code: string | undefined; policy: string | null | undefined };

async function chat(
  secret: string,
  opts: { model?: string; headers?: Record<string, string>; max?: number } = {},
): Promise<Outcome> {
  try {
    const { response } = await h
      .openai(secret)
      .chat.completions.create(
        {
          model: opts.model ?? 'gpt-4.1-mini',
          messages: [{ role: 'user', content: 'hi' }],
          ...(opts.max ? { max_tokens: opts.max } : {}),
        },
        { headers: opts.headers ?? {} },
      )
      .withResponse();
    return { ok: true, callId: response.headers.get('x-tollgate-call-id') ?? '' };
  } catch (err) {
    const e = err as { status?: number; code?: string; headers?: Headers };
    return {
      ok: false,
      status: e.status,
      code: e.code,
      policy: e.headers?.get('x-budget-exceeded') ?? e.headers?.get('x-ratelimit-exceeded'),
    };
  }
}

describe('LiteLLM admin field names', () => {
  let team: TeamNew;

  it('POST /team/new takes LiteLLM fields and answers with LiteLLM names', async () => {
    const r = await h.admin<TeamNew>('POST', '/team/new', {
      team_alias: 'ML Research',
      max_budget: 50,
      budget_duration: '30d',
      rpm_limit: 1000,
      tpm_limit: 1_000_000,
      metadata: { project: 'rag', env: 'staging' },
    });
    expect(r.status).toBe(200);
    team = r.body;
    expect(team).toMatchObject({
      team_id: 'ml-research',
      team_alias: 'ML Research',
      organization_id: 'acme',
      max_budget: 50,
      budget_duration: '30d',
      rpm_limit: 1000,
      tpm_limit: 1_000_000,
      metadata: { project: 'rag', env: 'staging' },
    });
    expect(team.budgets.sort()).toEqual(['team:ml-research', 'team:ml-research:rpm', 'team:ml-research:tpm']);

    // The team, its project and its budgets exist in Tollgate's own API.
    const t = await h.admin<{ id: string; name: string; projects: Array<{ id: string }> }>(
      'GET',
      '/admin/v1/teams/ml-research',
    );
    expect(t.status).toBe(200);
    expect(t.body.projects.map((p) => p.id)).toEqual(['rag']);
    const b = await h.admin<BudgetView>('GET', '/admin/v1/budgets/team:ml-research');
    expect(b.body.limit.nanos).toBe(50_000_000_000);
    expect(b.body.window).toMatchObject({ kind: 'rolling', sizeMs: 30 * 86_400_000 });
    const rpm = await h.admin<BudgetView>('GET', '/admin/v1/budgets/team:ml-research:rpm');
    expect(rpm.body.limit.requests).toBe(1000);

    const dup = await h.admin<ErrorBody>('POST', '/team/new', { team_alias: 'ML Research' });
    expect(dup.status).toBe(409);
    const badDuration = await h.admin<ErrorBody>('POST', '/team/new', {
      team_alias: 'Bad Window',
      max_budget: 1,
      budget_duration: 'fortnightly',
    });
    expect(badDuration.status).toBe(400);
    expect(badDuration.body.error.param).toBe('budget_duration');
  });

  it('a refused /team/new leaves nothing behind: the corrected retry succeeds', async () => {
    const bad = await h.admin<ErrorBody>('POST', '/team/new', {
      team_alias: 'Retry Team',
      max_budget: 1,
      budget_duration: '2mo',
    });
    expect(bad.status).toBe(400);
    expect((await h.admin('GET', '/admin/v1/teams/retry-team')).status).toBe(404);
    const retry = await h.admin<TeamNew>('POST', '/team/new', {
      team_alias: 'Retry Team',
      max_budget: 1,
      budget_duration: '1mo',
    });
    expect(retry.status).toBe(200);
  });

  it('a refused /key/generate leaves no key behind', async () => {
    const before = await h.admin<{ data: unknown[] }>('GET', '/admin/v1/keys?team=ml-research');
    const bad = await h.admin<ErrorBody>('POST', '/key/generate', {
      team_id: team.team_id,
      max_budget: 1,
      budget_duration: 'fortnightly',
    });
    expect(bad.status).toBe(400);
    const after = await h.admin<{ data: unknown[] }>('GET', '/admin/v1/keys?team=ml-research');
    expect(after.body.data).toHaveLength(before.body.data.length);
  });

  it('POST /key/generate answers with LiteLLM names; the key works with the openai client', async () => {
    const r = await h.admin<KeyGenerate>('POST', '/key/generate', {
      team_id: team.team_id,
      key_alias: 'rag-service',
      max_budget: 10,
      budget_duration: '1mo',
      models: ['gpt-4.1-mini', 'gpt-4o-mini'],
      duration: '20m',
      metadata: { project: 'rag', env: 'prod' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      team_id: 'ml-research',
      key_alias: 'rag-service',
      models: ['gpt-4.1-mini', 'gpt-4o-mini'],
      max_budget: 10,
      budget_duration: '1mo',
      metadata: { project: 'rag', env: 'prod' },
    });
    expect(r.body.key).toMatch(/^tg-/);
    expect(r.body.token_id).toMatch(/^key_/);
    const expires = Date.parse(r.body.expires ?? '');
    expect(expires - Date.now()).toBeGreaterThan(19 * 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(20 * 60_000);

    const client = h.openai(r.body.key);
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBeTruthy();
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ keyId: r.body.token_id });
    const row = rows.find((x) => x.callId === response.headers.get('x-tollgate-call-id'));
    expect(row).toMatchObject({ team: 'ml-research', project: 'rag', env: 'prod', status: 'ok' });

    // The models list is an allowlist.
    expect(await chat(r.body.key, { model: 'gpt-4.1' })).toMatchObject({
      ok: false,
      status: 403,
      code: 'model_not_allowed',
    });
    // The key's budget is visible in Tollgate's API, with spend from the call above.
    const b = await h.admin<BudgetView>('GET', `/admin/v1/budgets/key:${r.body.token_id}`);
    expect(b.body.limit.nanos).toBe(10_000_000_000);
    expect(b.body.spent.nanos).toBe(row?.cost);
  });

  it('a key without metadata inherits project and env from the team metadata', async () => {
    const r = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: team.team_id });
    expect(r.status).toBe(200);
    expect(r.body.metadata).toMatchObject({ project: 'rag', env: 'staging' });
    const k = await h.admin<{ project: string; env: string; team: string }>(
      'GET',
      `/admin/v1/keys/${r.body.token_id}`,
    );
    expect(k.body).toMatchObject({ team: 'ml-research', project: 'rag', env: 'staging' });
  });

  it('echoes rpm_limit and tpm_limit on /key/generate like LiteLLM does', async () => {
    const r = await h.admin<KeyGenerate>('POST', '/key/generate', {
      team_id: team.team_id,
      rpm_limit: 100,
      tpm_limit: 5000,
    });
    expect(r.status).toBe(200);
    expect(r.body.rpm_limit).toBe(100);
    expect(r.body.tpm_limit).toBe(5000);
  });

  it('rejects an unknown team, an unknown model and a bad env with catalogued errors', async () => {
    const noTeam = await h.admin<ErrorBody>('POST', '/key/generate', { team_id: 'ghosts' });
    expect(noTeam.status).toBe(404);
    expect(noTeam.body.error.param).toBe('team_id');
    const badModel = await h.admin<ErrorBody>('POST', '/key/generate', {
      team_id: team.team_id,
      models: ['gpt-99'],
    });
    expect(badModel.status).toBe(400);
    const badEnv = await h.admin<ErrorBody>('POST', '/key/generate', {
      team_id: team.team_id,
      metadata: { env: 'qa' },
    });
    expect(badEnv.status).toBe(400);
    const noProject = await h.admin<TeamNew>('POST', '/team/new', { team_alias: 'Empty Team' });
    expect(noProject.status).toBe(200);
    const needsProject = await h.admin<ErrorBody>('POST', '/key/generate', { team_id: 'empty-team' });
    expect(needsProject.status).toBe(400);
    expect(needsProject.body.error.param).toBe('metadata.project');
  });
});

describe('LiteLLM limits are enforced', () => {
  it('a key max_budget: expensive calls are refused with 429 once the budget is spent, never above it', async () => {
    await h.admin('POST', '/team/new', { team_alias: 'Spenders', metadata: { project: 'burn' } });
    const maxBudget = 0.002;
    const r = await h.admin<KeyGenerate>('POST', '/key/generate', {
      team_id: 'spenders',
      key_alias: 'tiny',
      max_budget: maxBudget,
      budget_duration: '1d',
      metadata: { env: 'dev' },
    });
    expect(r.status).toBe(200);
    let denied: Outcome | null = null;
    let okCalls = 0;
    for (let i = 0; i < 20 && !denied; i++) {
      const out = await chat(r.body.key, { model: 'gpt-4.1', headers: { 'x-mock-output-tokens': '5000' } });
      if (out.ok) okCalls++;
      else denied = out;
    }
    expect(okCalls).toBeGreaterThan(0);
    expect(denied).toEqual({
      ok: false,
      status: 429,
      code: 'budget_exceeded',
      policy: `key:${r.body.token_id}`,
    });
    const b = await h.admin<BudgetView>('GET', `/admin/v1/budgets/key:${r.body.token_id}`);
    expect(b.body.spent.nanos).toBeGreaterThan(0);
    expect(b.body.spent.nanos).toBeLessThanOrEqual(maxBudget * 1e9);
    expect(b.body.reserved.nanos).toBe(0);
  });

  it('a team max_budget binds every key of the team', async () => {
    const t = await h.admin<TeamNew>('POST', '/team/new', {
      team_alias: 'Capped',
      max_budget: 0.001,
      metadata: { project: 'p1', env: 'dev' },
    });
    const a = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: t.body.team_id });
    const b = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: t.body.team_id });
    let denied: Outcome | null = null;
    for (let i = 0; i < 20 && !denied; i++) {
      const out = await chat(i % 2 ? a.body.key : b.body.key, {
        model: 'gpt-4.1',
        headers: { 'x-mock-output-tokens': '5000' },
      });
      if (!out.ok) denied = out;
    }
    expect(denied).toMatchObject({ ok: false, status: 429, policy: 'team:capped' });
    const s = await h.admin<BudgetView>('GET', '/admin/v1/budgets/team:capped');
    expect(s.body.spent.nanos).toBeLessThanOrEqual(1_000_000);
  });

  it('a key rpm_limit of 3 is a rate limit: the 4th call within the minute is 429 rate_limited', async () => {
    await h.admin('POST', '/team/new', { team_alias: 'Rated', metadata: { project: 'r1' } });
    const r = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: 'rated', rpm_limit: 3 });
    expect(r.status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await chat(r.body.key, { max: 10 })).ok).toBe(true);
    expect(await chat(r.body.key, { max: 10 })).toEqual({
      ok: false,
      status: 429,
      code: 'rate_limited',
      policy: `key:${r.body.token_id}`,
    });
    // Another key of the same team is not affected by this key's limit.
    const other = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: 'rated' });
    expect((await chat(other.body.key, { max: 10 })).ok).toBe(true);
  });

  it('a team rpm_limit of 3 is shared by its keys', async () => {
    await h.admin('POST', '/team/new', {
      team_alias: 'Shared RPM',
      rpm_limit: 3,
      metadata: { project: 's1' },
    });
    const a = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: 'shared-rpm' });
    const b = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: 'shared-rpm' });
    expect((await chat(a.body.key, { max: 10 })).ok).toBe(true);
    expect((await chat(b.body.key, { max: 10 })).ok).toBe(true);
    expect((await chat(a.body.key, { max: 10 })).ok).toBe(true);
    expect(await chat(b.body.key, { max: 10 })).toMatchObject({
      ok: false,
      status: 429,
      policy: 'team:shared-rpm:rpm',
    });
  });

  it('a key tpm_limit refuses a call whose worst case does not fit', async () => {
    await h.admin('POST', '/team/new', { team_alias: 'Tokens', metadata: { project: 't1' } });
    const r = await h.admin<KeyGenerate>('POST', '/key/generate', { team_id: 'tokens', tpm_limit: 200 });
    expect((await chat(r.body.key, { max: 20 })).ok).toBe(true);
    expect(await chat(r.body.key, { max: 5000 })).toMatchObject({
      ok: false,
      status: 429,
      code: 'rate_limited',
      policy: `key:${r.body.token_id}`,
    });
  });
});
