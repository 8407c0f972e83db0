import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { type Harness, MASTER, startHarness } from '../helpers/harness.ts';
import { type Case, runCases } from '../helpers/malformed.ts';
import {
  adminAuthCases,
  adminBodyCases,
  adminQueryCases,
  authAndModelCases,
  bodySizeCases,
  budgetParamCases,
  type Ctx,
  ceilingCases,
  chatFieldCases,
  contextHeaderCases,
  deepNestingCases,
  httpFramingCases,
  invalidUtf8InStringCases,
  keyGenerateProjectCases,
  malformedJsonCases,
  methodAndPathCases,
  teamAliasSlugCases,
} from '../helpers/malformedCases.ts';

/**
 * Bad input end to end (DESIGN.md "Testing"): a reproducible, generated set of malformed
 * requests against the real gateway and mock upstream. Each gets the catalogued 4xx its one
 * mistake calls for — `{error:{message,type,code,param}}`, status matching the code — never a
 * 5xx, never a hang; afterwards the gateway still serves real calls and logged no internal error.
 */

const LIMIT = 64 * 1024;

let h: Harness;
let ctx: Ctx;
let logError: MockInstance;
const generated = new Map<string, Case[]>();

beforeAll(async () => {
  h = await startHarness({
    config: { server: { port: 0, master_key: MASTER, max_body_bytes: LIMIT } },
    mock: { outputTokens: 8 },
  });
  logError = vi.spyOn(h.gateway.services.log, 'error');
  const main = await h.createKey({ team: 'search', project: 'ranker', env: 'prod', name: 'malformed' });
  const restricted = await h.createKey({
    team: 'search',
    project: 'ranker',
    env: 'dev',
    models: ['gpt-4o-mini', 'custom*'],
  });
  const revoked = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
  expect((await h.admin('DELETE', `/admin/v1/keys/${revoked.id}`)).status).toBe(200);
  // The admin API accepts an expiry in the past, so no waiting is needed.
  const expired = await h.createKey({
    team: 'search',
    project: 'ranker',
    env: 'dev',
    expires_at: '2001-02-03T04:05:06Z',
  });
  const patchTarget = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
  ctx = {
    url: () => h.gateway.url,
    limit: LIMIT,
    secret: main.secret,
    restricted: restricted.secret,
    revoked: revoked.secret,
    expired: expired.secret,
    patchKeyId: patchTarget.id,
  };
  const build: [string, (c: Ctx) => Case[]][] = [
    ['malformed JSON', malformedJsonCases],
    ['body size', bodySizeCases],
    ['chat field types', chatFieldCases],
    ['keys and models', authAndModelCases],
    ['context headers', contextHeaderCases],
    ['methods and paths', methodAndPathCases],
    ['HTTP framing', httpFramingCases],
    ['admin auth', adminAuthCases],
    ['admin bodies', adminBodyCases],
    ['admin query params', adminQueryCases],
    ['max tokens above the model ceiling', ceilingCases],
    ['deep nesting', deepNestingCases],
    ['invalid UTF-8 in a string', invalidUtf8InStringCases],
    ['team/new alias slug', teamAliasSlugCases],
    ['key/generate metadata.project', keyGenerateProjectCases],
    ['budget error param', budgetParamCases],
  ];
  for (const [name, make] of build) generated.set(name, make(ctx));
});
afterAll(async () => h?.close());

async function expectAllBehave(category: string): Promise<void> {
  const cases = generated.get(category) ?? [];
  expect(cases.length).toBeGreaterThan(0);
  const failures = await runCases(cases);
  expect(failures, `${failures.length} of ${cases.length} '${category}' cases misbehaved`).toEqual([]);
}

describe('malformed requests get a catalogued 4xx, never a 5xx or a hang', () => {
  it('generates a reproducible set of at least 300 cases', () => {
    const counts = Object.fromEntries([...generated].map(([k, v]) => [k, v.length]));
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.info(`malformed cases: ${total}`, counts);
    expect(total).toBeGreaterThanOrEqual(300);
  });

  it('malformed JSON, non-object JSON, empty bodies, wrong content types', () =>
    expectAllBehave('malformed JSON'));
  it('bodies over, at and under server.max_body_bytes (content-length and chunked)', () =>
    expectAllBehave('body size'));
  it('wrong types for every chat field the gateway reads', () => expectAllBehave('chat field types'));
  it('missing, malformed, unknown, revoked and expired keys; unknown and disallowed models', () =>
    expectAllBehave('keys and models'));
  it('invalid request-context headers and baggage', () => expectAllBehave('context headers'));
  it('wrong methods and unknown paths', () => expectAllBehave('methods and paths'));
  it('bytes that are not valid HTTP/1.1 (raw sockets)', () => expectAllBehave('HTTP framing'));
  it('admin API without a valid master key', () => expectAllBehave('admin auth'));
  it('admin API bodies with wrong types', () => expectAllBehave('admin bodies'));
  it('admin API query parameters with bad values', () => expectAllBehave('admin query params'));
});

describe('malformed requests that misbehaved when this suite was written', () => {
  it('JSON nested 10k levels deep is refused with a 4xx, not a 500 (chat and admin)', () =>
    expectAllBehave('deep nesting'));
  it('invalid UTF-8 bytes inside a JSON string are refused as invalid_json, not silently replaced', () =>
    expectAllBehave('invalid UTF-8 in a string'));
  it('max_tokens / max_completion_tokens above the model max_output_tokens are refused by guard', () =>
    expectAllBehave('max tokens above the model ceiling'));
  it('POST /team/new never creates a team whose derived id is not a valid id', () =>
    expectAllBehave('team/new alias slug'));
  it('POST /key/generate refuses a metadata.project that is not a valid id', () =>
    expectAllBehave('key/generate metadata.project'));
  it('budget errors raised after the schema check name the field in error.param', () =>
    expectAllBehave('budget error param'));
  it('a refused LiteLLM admin call leaves nothing behind (no team, no key)', async () => {
    const alias = 'mf-refused-team';
    const team = await h.admin('POST', '/team/new', {
      team_alias: alias,
      max_budget: 1,
      budget_duration: '2mo',
    });
    const key = await h.admin('POST', '/key/generate', {
      team_id: 'support',
      key_alias: 'mf-refused-key',
      max_budget: 1,
      budget_duration: '2mo',
    });
    const keys = await h.admin<{ data: { name: string | null }[] }>('GET', '/admin/v1/keys?team=support');
    expect({
      teamStatus: team.status,
      keyStatus: key.status,
      teamLeftBehind: (await h.admin('GET', `/admin/v1/teams/${alias}`)).status === 200,
      keysLeftBehind: keys.body.data.filter((k) => k.name === 'mf-refused-key').length,
    }).toEqual({ teamStatus: 400, keyStatus: 400, teamLeftBehind: false, keysLeftBehind: 0 });
  });
});

describe('after the whole set', () => {
  it('/health is 200 and a real chat call through the official openai client succeeds', async () => {
    const health = await fetch(`${h.gateway.url}/health`, { signal: AbortSignal.timeout(4000) });
    expect(health.status).toBe(200);
    const r = await h.openai(ctx.secret, { timeout: 4000 }).chat.completions.create({
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'still alive?' }],
      max_tokens: 16,
    });
    expect(r.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(r.usage?.completion_tokens).toBe(8);
  });

  it('no request ended in an internal error (ledger) or an unhandled handler error (log)', async () => {
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ limit: 100_000 });
    const internalRows = rows
      .filter((r) => r.errorCode === 'internal_error' || (r.httpStatus ?? 0) >= 500)
      .map((r) => `${r.callId} ${r.modelRequested} ${r.status} http=${r.httpStatus} ${r.errorCode}`);
    const loggedErrors = logError.mock.calls.map((args) => {
      const [first, second] = args as unknown[];
      const err = (first as { err?: Error } | undefined)?.err;
      return `${String(second ?? first)}${err ? `: ${err.message}` : ''}`;
    });
    expect({ internalRows, loggedErrors }).toEqual({ internalRows: [], loggedErrors: [] });
  });
});
