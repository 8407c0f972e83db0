import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { mockInputTokens } from '../../src/mock/index.ts';
import { formatUsd } from '../../src/money.ts';
import { bundledRawPrices } from '../../src/pricing/bundled.ts';
import { type Harness, startHarness, TEST_MODELS } from '../helpers/harness.ts';

/**
 * Embeddings through the real gateway with the official openai client: input tokens only,
 * priced at the published input price; the reservation is input x input price (no output).
 */

const MODEL = 'text-embedding-3-small';
/** $0.02 per million tokens, as integer pico-USD per token. */
const PICO_INPUT = 20_000;
const expectedNanos = (tokens: number) => Math.ceil((tokens * PICO_INPUT) / 1000);

let h: Harness;
let secret: string;
let keyId: string;
let supportSecret: string;

beforeAll(async () => {
  h = await startHarness({
    config: {
      // The bundled data has only an input price for embedding models: output is set to 0 here.
      models: [...TEST_MODELS, { id: MODEL, provider: 'mock', prices: { output: 0 } }],
      budgets: [
        { id: 'search-cap', match: { team: 'search' }, limit: { usd: 5 } },
        // Clamping allowed: with no output to lower, an unaffordable input must still be denied.
        { id: 'support-tiny', match: { team: 'support' }, limit: { usd: 0.000001 }, clamp: true },
      ],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
  supportSecret = (await h.createKey({ team: 'support', project: 'bot', env: 'prod' })).secret;
});
afterAll(async () => h.close());

const finalRow = (callId: string): Promise<CallRecord> => h.finalRow(callId, keyId);

describe('embeddings through the gateway (official openai client)', () => {
  it('the bundled price of text-embedding-3-small is $0.02 per million input tokens', () => {
    expect(bundledRawPrices(MODEL, 'openai')).toEqual({ input: PICO_INPUT });
  });

  it('string input: input tokens and cost on the ledger equal mock usage x the published price', async () => {
    const input = 'The quick brown fox jumps over the lazy dog.';
    const { data, response } = await h
      .openai(secret)
      .embeddings.create({ model: MODEL, input })
      .withResponse();
    const tokens = mockInputTokens(input);
    expect(data.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    expect(data.data).toHaveLength(1);
    expect(data.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(h.mock.received.at(-1)?.path).toBe('/v1/embeddings');

    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      status: 'ok',
      endpoint: '/v1/embeddings',
      stream: false,
      usageSource: 'provider',
      inputTokens: tokens,
      outputTokens: 0,
      cacheReadTokens: 0,
      reasoningTokens: 0,
    });
    expect(row.cost).toBe(expectedNanos(tokens));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe(formatUsd(row.cost));
    // The worst case is input only: the reservation is the estimated input at the input price.
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
    expect(row.reserved).toBe(expectedNanos(row.reservedTokens));
  });

  it('array input (strings, then token arrays): one row, the tokens of every item', async () => {
    const texts = ['first document about rivers', 'second one, about mountains and lakes', 'third'];
    const a = await h.openai(secret).embeddings.create({ model: MODEL, input: texts }).withResponse();
    const tokens = texts.reduce((sum, t) => sum + mockInputTokens(t), 0);
    expect(a.data.data).toHaveLength(3);
    expect(a.data.usage.prompt_tokens).toBe(tokens);
    const rowA = await finalRow(a.response.headers.get('x-tollgate-call-id') ?? '');
    expect(rowA).toMatchObject({ inputTokens: tokens, outputTokens: 0 });
    expect(rowA.cost).toBe(expectedNanos(tokens));

    const b = await h
      .openai(secret)
      .embeddings.create({
        model: MODEL,
        input: [
          [1, 2, 3],
          [4, 5],
        ],
        encoding_format: 'float',
      })
      .withResponse();
    expect(b.data.usage.prompt_tokens).toBe(5);
    const rowB = await finalRow(b.response.headers.get('x-tollgate-call-id') ?? '');
    expect(rowB).toMatchObject({ inputTokens: 5, outputTokens: 0 });
    expect(rowB.cost).toBe(expectedNanos(5));
  });

  it('a budget that cannot cover the input: 429 budget_exceeded with x-budget-exceeded, never clamped, not forwarded', async () => {
    const before = h.mock.received.length;
    const err = await h
      .openai(supportSecret)
      .embeddings.create({ model: MODEL, input: 'lorem ipsum dolor sit amet '.repeat(300) })
      .catch((e: { status: number; code: string; headers: Headers }) => e);
    expect(err).toMatchObject({ status: 429, code: 'budget_exceeded' });
    expect((err as { headers: Headers }).headers.get('x-budget-exceeded')).toBe('support-tiny');
    expect(h.mock.received.length).toBe(before);
  });

  it('a small input still fits the same budget (maxOutput 0: input x input price only)', async () => {
    // $0.000001 = 1,000 nano-USD = 50 tokens at $0.02/M, margin included.
    const res = await h.openai(supportSecret).embeddings.create({ model: MODEL, input: 'hi' });
    expect(res.usage.prompt_tokens).toBe(mockInputTokens('hi'));
  });

  it('bad shapes and streaming get a clear 400', async () => {
    const bad = [
      { model: MODEL },
      { model: MODEL, input: '' },
      { model: MODEL, input: [] },
      { model: MODEL, input: [{ text: 'x' }] },
      { model: MODEL, input: 'x', stream: true },
    ];
    for (const body of bad) {
      const res = await fetch(`${h.gateway.url}/v1/embeddings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    }
  });

  it('also served without the /v1 prefix', async () => {
    const res = await fetch(`${h.gateway.url}/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, input: 'hello' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(
      mockInputTokens('hello'),
    );
  });

  it('nothing is left in flight', async () => {
    expect(await h.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});
