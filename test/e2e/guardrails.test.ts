import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';
import { type Answer, errorCode, postChat } from '../helpers/post.ts';

/**
 * Rate limits (money vs rate), app guardrails (prompt size, output ceiling, agent-loop caps)
 * and Idempotency-Key replays, through the real server.
 */

const post = postChat;

const ask = (content = 'hello there', max = 16) => ({
  model: 'gpt-4.1-mini',
  messages: [{ role: 'user', content }],
  max_tokens: max,
});

describe('a key is limited by whichever binds first: money or rate', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ mock: { outputTokens: 16 } });
  });
  afterAll(() => h.close());

  it('a $5/day key with rpm 6,000 is stopped by money, not by rate', async () => {
    const key = await h.createKey({
      team: 'search',
      project: 'ranker',
      env: 'prod',
      rpm: 6000,
      budget: { usd: 5, window: { kind: 'calendar', every: 'day' } },
    });
    // Each call really generates 30,000 gpt-4.1 output tokens: $0.24, so $5 lasts about 20 calls.
    const results: Answer[] = [];
    const big = { 'x-mock-output-tokens': '30000' };
    for (let i = 0; i < 40; i++) {
      results.push(
        await post(
          h,
          key.secret,
          { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 30_000 },
          big,
        ),
      );
    }
    const codes = results.map((r) => (r.status === 200 ? 'ok' : errorCode(r)));
    expect(codes).not.toContain('rate_limited');
    expect(codes).toContain('budget_exceeded');
    expect(results.find((r) => r.status === 429)?.headers.get('x-budget-exceeded')).toBe(`key:${key.id}`);
    // Rate headers are present and show plenty of room.
    const okOne = results.find((r) => r.status === 200)!;
    expect(Number(okOne.headers.get('x-ratelimit-limit-requests'))).toBe(6000);
    expect(Number(okOne.headers.get('x-ratelimit-remaining-requests'))).toBeGreaterThan(5900);
  });

  it('a $1,000 key with rpm 10 is stopped by rate, with OpenAI-style headers and Retry-After', async () => {
    const key = await h.createKey({
      team: 'search',
      project: 'ranker',
      env: 'dev',
      rpm: 10,
      budget: { usd: 1000, window: { kind: 'calendar', every: 'day' } },
    });
    const results: Answer[] = [];
    for (let i = 0; i < 12; i++) results.push(await post(h, key.secret, ask()));
    expect(results.map((r) => r.status)).toEqual([...Array(10).fill(200), 429, 429]);
    const first = results[0]!;
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('10');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('9');
    expect(first.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d+)?(ms|s)$/);
    const denied = results[10]!;
    expect(errorCode(denied)).toBe('rate_limited');
    expect(denied.body.error).toMatchObject({ type: 'rate_limit_error' });
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(denied.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(denied.headers.get('x-budget-exceeded')).toBeNull();
    // The denial has its own $0 ledger row naming the rule.
    const row = await h.finalRow(String(denied.headers.get('x-tollgate-call-id')), key.id);
    expect(row).toMatchObject({
      status: 'denied',
      errorCode: 'rate_limited',
      denialPolicy: `key:${key.id}`,
      cost: 0,
    });
  });

  it('max_concurrent: slots are held while calls run and always released', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod', max_concurrent: 2 });
    const slow = { 'x-mock-latency-ms': '150' };
    const results = await Promise.all(Array.from({ length: 5 }, () => post(h, key.secret, ask(), slow)));
    expect(results.filter((r) => r.status === 200).length).toBe(2);
    expect(results.filter((r) => errorCode(r) === 'rate_limited').length).toBe(3);
    // Once they finish, the slots are free again — including after aborted calls.
    const ctrl = new AbortController();
    const aborted = fetch(`${h.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ctrl.signal,
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json', ...slow },
      body: JSON.stringify(ask()),
    }).catch(() => null);
    await new Promise((r) => setTimeout(r, 30));
    ctrl.abort();
    await aborted;
    await new Promise((r) => setTimeout(r, 200));
    expect(await h.gateway.services.rateLimiter.openCount()).toBe(0);
    const again = await Promise.all([post(h, key.secret, ask()), post(h, key.secret, ask())]);
    expect(again.map((r) => r.status)).toEqual([200, 200]);
  });

  it('a team rate limit from config is shared by its keys (tpm corrected on settle)', async () => {
    const h2 = await startHarness({
      config: { rate_limits: [{ id: 'support-tpm', match: { team: 'support' }, tpm: 400 }] },
      mock: { outputTokens: 5 },
    });
    try {
      const a = await h2.createKey({ team: 'support', project: 'bot', env: 'prod' });
      const b = await h2.createKey({ team: 'support', project: 'bot', env: 'dev' });
      // Each call holds ~9 + 100 tokens while it runs but really uses ~14: settlement gives back
      // the rest, so far more than 400/109 = 3 calls fit in the minute.
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++)
        statuses.push((await post(h2, i % 2 ? a.secret : b.secret, ask('hello there', 100))).status);
      expect(statuses.every((s) => s === 200)).toBe(true);
      // A call whose worst case can never fit the team's tpm is refused without a Retry-After.
      const huge = await post(h2, a.secret, ask('hello there', 1000));
      expect(errorCode(huge)).toBe('rate_limited');
      expect(huge.headers.get('x-ratelimit-exceeded')).toBe('support-tpm');
      expect(huge.headers.get('retry-after')).toBeNull();
    } finally {
      await h2.close();
    }
  });
});

describe('app guardrails per project and feature', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      config: {
        guardrails: [
          {
            id: 'ranker-prompt',
            match: { project: 'ranker' },
            max_prompt_tokens: 50,
            max_prompt_bytes: 4000,
          },
          { id: 'summaries', match: { feature: 'summarize' }, max_output_tokens: 64 },
          { id: 'agent-loops', match: { team: 'support' }, per_request: { max_calls: 10, window: '1h' } },
          {
            id: 'session-dollars',
            match: { team: 'support', env: 'dev' },
            per_session: { max_usd: '0.0001', window: '1h' },
          },
        ],
      },
      mock: { outputTokens: 8 },
    });
  });
  afterAll(() => h.close());

  it('refuses a prompt over the token or byte limit before reserving anything', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const long = await post(h, key.secret, ask('word '.repeat(200)));
    expect(long.status).toBe(400);
    expect(errorCode(long)).toBe('prompt_too_large');
    expect((long.body.error as { message: string }).message).toContain('ranker-prompt');
    const bytes = await post(h, key.secret, { ...ask('x'), metadata: { pad: 'y'.repeat(5000) } });
    expect(errorCode(bytes)).toBe('prompt_too_large');
    expect((await post(h, key.secret, ask('short'))).status).toBe(200);
  });

  it('lowers max_tokens to the feature ceiling, and sets it when the request has none', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'staging' });
    const feature = { 'x-tollgate-feature': 'summarize' };
    await post(h, key.secret, ask('hi', 5000), feature);
    await post(
      h,
      key.secret,
      { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] },
      feature,
    );
    const sent = h.mock.received.slice(-2).map((r) => (r.body as { max_tokens?: number }).max_tokens);
    expect(sent).toEqual([64, 64]);
    await post(h, key.secret, ask('hi', 5000));
    expect((h.mock.received.at(-1)?.body as { max_tokens?: number } | undefined)?.max_tokens).toBe(5000);
  });

  it('an agent loop of 50 calls sharing a request_id stops at its cap of 10', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const loop = { 'x-tollgate-request-id': 'agent-run-1' };
    const results: Answer[] = [];
    for (let i = 0; i < 50; i++) results.push(await post(h, key.secret, ask(`step ${i}`), loop));
    expect(results.filter((r) => r.status === 200).length).toBe(10);
    const refused = results.slice(10);
    expect(refused.every((r) => r.status === 429 && errorCode(r) === 'loop_cap_exceeded')).toBe(true);
    expect(refused[0]!.headers.get('x-tollgate-guardrail')).toBe('agent-loops');
    // Another request id starts its own count.
    expect((await post(h, key.secret, ask('fresh'), { 'x-tollgate-request-id': 'agent-run-2' })).status).toBe(
      200,
    );
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ requestId: 'agent-run-1', limit: 100 });
    expect(rows.filter((r) => r.status === 'ok').length).toBe(10);
    expect(rows.filter((r) => r.errorCode === 'loop_cap_exceeded').length).toBe(40);
  });

  it('concurrent agent steps cannot overshoot the loop cap', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const loop = { 'x-tollgate-request-id': 'agent-burst', 'x-mock-latency-ms': '50' };
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => post(h, key.secret, ask(`s${i}`), loop)),
    );
    expect(results.filter((r) => r.status === 200).length).toBe(10);
  });

  it('a per-session $ cap stops a session once its spend (reserved first) would pass it', async () => {
    const key = await h.createKey({ team: 'support', project: 'bot', env: 'dev' });
    const session = { 'x-tollgate-session-id': 'chat-42' };
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await post(h, key.secret, ask(`q${i}`, 16), session)).status);
    const ok = statuses.filter((s) => s === 200).length;
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThan(20);
    expect(statuses.slice(ok).every((s) => s === 429)).toBe(true);
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ keyId: key.id, limit: 100 });
    const spent = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(spent).toBeLessThanOrEqual(100_000); // $0.0001 in nanos
  });
});

describe('Idempotency-Key: a retry replays, never bills twice', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ mock: { outputTokens: 12 } });
  });
  afterAll(() => h.close());

  it('the same key and body replays the stored answer without calling the provider', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const before = h.mock.stats.requests;
    const idem = { 'idempotency-key': 'order-123' };
    const first = await post(h, key.secret, ask('charge me once'), idem);
    const second = await post(h, key.secret, ask('charge me once'), idem);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.text).toBe(first.text);
    expect(second.headers.get('x-tollgate-idempotent-replay')).toBe('true');
    expect(second.headers.get('x-tollgate-call-id')).toBe(first.headers.get('x-tollgate-call-id'));
    expect(h.mock.stats.requests - before).toBe(1);
    await h.gateway.services.ledger.flush();
    const rows = await h.gateway.services.store.ledger.queryCalls({ keyId: key.id, limit: 10 });
    expect(rows.length).toBe(1);
    // The official client sends the same header on its own retries.
    const client = h.openai(key.secret);
    const viaSdk = await client.chat.completions.create(
      { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'charge me once' }], max_tokens: 16 },
      { headers: idem },
    );
    expect(viaSdk.id).toBe(first.body.id);
  });

  it('the same key with a different body gets 409 and bills nothing', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const idem = { 'idempotency-key': 'order-456' };
    expect((await post(h, key.secret, ask('one'), idem)).status).toBe(200);
    const conflict = await post(h, key.secret, ask('two'), idem);
    expect(conflict.status).toBe(409);
    expect(errorCode(conflict)).toBe('idempotency_conflict');
    // Keys are per virtual key: another key may use the same string.
    const other = await h.createKey({ team: 'search', project: 'ranker', env: 'dev' });
    expect((await post(h, other.secret, ask('two'), idem)).status).toBe(200);
  });

  it('a streamed answer is replayed byte for byte; a failed call is not stored, so its retry runs', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const idem = { 'idempotency-key': 'stream-1' };
    const body = { ...ask('stream please'), stream: true };
    const first = await post(h, key.secret, body, idem);
    const second = await post(h, key.secret, body, idem);
    expect(first.text).toContain('data: [DONE]');
    expect(second.text).toBe(first.text);
    expect(second.headers.get('content-type')).toContain('text/event-stream');

    const failing = { 'idempotency-key': 'fail-then-ok' };
    const bad = await post(h, key.secret, ask('retry me'), { ...failing, 'x-mock-fault': '500' });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    const good = await post(h, key.secret, ask('retry me'), failing);
    expect(good.status).toBe(200);
    expect(good.headers.get('x-tollgate-idempotent-replay')).toBeNull();
  });

  it('a concurrent duplicate is told the first is still running (409, Retry-After)', async () => {
    const key = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const idem = { 'idempotency-key': 'dup', 'x-mock-latency-ms': '100' };
    const [a, b] = await Promise.all([
      post(h, key.secret, ask('x'), idem),
      post(h, key.secret, ask('x'), idem),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    expect(errorCode(loser)).toBe('idempotency_in_progress');
    expect(loser.headers.get('retry-after')).toBe('1');
  });
});
