import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { mockPromptTokens } from '../../src/mock/index.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  h = await startHarness({
    mock: { outputTokens: 200, interChunkMs: 5 },
    config: {
      budgets: [{ id: 'search-cap', match: { team: 'search' }, limit: { usd: 50 } }],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => h.close());

const waitForRow = (callId: string): Promise<CallRecord> => h.finalRow(callId, keyId);

const messages = [{ role: 'user' as const, content: 'Tell me a long story.' }];

describe('streams that end badly are still billed, never $0', () => {
  it('a client that abandons the stream after 3 chunks: upstream aborted, billed on counted tokens', async () => {
    const abortedBefore = h.mock.stats.aborted;
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create({ model: 'gpt-4.1-mini', messages, stream: true })
      .withResponse();
    let n = 0;
    for await (const _chunk of stream) {
      if (++n === 3) break;
    }
    const row = await waitForRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('client_aborted');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBeGreaterThanOrEqual(2);
    expect(row.outputTokens).toBeLessThan(200);
    expect(row.inputTokens).toBeGreaterThanOrEqual(mockPromptTokens({ model: 'gpt-4.1-mini', messages }));
    expect(row.cost).toBeGreaterThan(0);
    for (let i = 0; i < 50 && h.mock.stats.aborted === abortedBefore; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(h.mock.stats.aborted).toBeGreaterThan(abortedBefore);
  });

  it('an upstream that cuts the stream mid-way: the client gets an error, the call is billed (estimated)', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'gpt-4.1-mini', messages, stream: true },
        { headers: { 'x-mock-fault': 'cut' } },
      )
      .withResponse();
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
    ).rejects.toThrow();
    const row = await waitForRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('upstream_error');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBe(100);
    expect(text.length).toBeGreaterThan(0);
    expect(row.cost).toBeGreaterThan(0);
  });

  it('a stream whose provider omitted usage is settled on counted tokens', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'gpt-4.1-mini', messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-fault': 'no-usage' } },
      )
      .withResponse();
    for await (const _chunk of stream) {
      // drain
    }
    const row = await waitForRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('ok');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBe(200);
    expect(row.cost).toBeGreaterThan(0);
  });
});

describe('upstream failures release the reservation and give clear errors', () => {
  it.each([
    ['500', 502, 'upstream_error'],
    ['503', 502, 'upstream_error'],
    ['429', 429, 'upstream_rate_limited'],
    ['bad-json', 502, 'upstream_error'],
  ])('fault %s → HTTP %i %s, $0, nothing left in flight', async (fault, status, code) => {
    const before = (await h.admin<{ spent: { nanos: number } }>('GET', '/admin/v1/budgets/search-cap')).body
      .spent.nanos;
    const err = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'gpt-4.1-mini', messages, max_tokens: 20 },
        { headers: { 'x-mock-fault': fault } },
      )
      .catch((e: { status: number; code: string; headers: Headers }) => e);
    expect(err).toMatchObject({ status, code });
    const callId = (err as { headers: Headers }).headers.get('x-tollgate-call-id') ?? '';
    const row = await waitForRow(callId);
    expect(row.status).toBe('upstream_error');
    expect(row.cost).toBe(0);
    const after = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
      'GET',
      '/admin/v1/budgets/search-cap',
    );
    expect(after.body.spent.nanos).toBe(before);
    expect(after.body.reserved.nanos).toBe(0);
  });

  it('an upstream that never answers times out with 504 and releases', async () => {
    const t = await startHarness({
      config: {
        providers: {
          mock: {
            kind: 'openai',
            base_url: `${h.mock.url}/v1`,
            forward_headers: ['x-mock-*'],
            headers_timeout_ms: 300,
          },
        },
      },
    });
    try {
      const k = await t.createKey({ team: 'search', project: 'ranker', env: 'prod' });
      const started = Date.now();
      const err = await t
        .openai(k.secret)
        .chat.completions.create(
          { model: 'gpt-4.1-mini', messages },
          { headers: { 'x-mock-fault': 'timeout' } },
        )
        .catch((e: { status: number; code: string }) => e);
      expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await t.gateway.services.budgets.counters.openReservations()).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('after all of that, nothing is left in flight', async () => {
    expect(await h.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});
