import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { ResponseCreateParams } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { MOCK_GEMINI_API_KEY } from '../../src/mock/gemini/index.ts';
import { type MockServer, mockContent, mockResponsesInputTokens, startMock } from '../../src/mock/index.ts';
import { bundledPrices } from '../../src/pricing/bundled.ts';
import { type Harness, startHarness, TEST_MODELS } from '../helpers/harness.ts';

/**
 * The OpenAI Responses API through the real gateway with the official openai client: native
 * pass-through to the mock's /v1/responses (JSON, typed SSE events, function calls), streams
 * that end badly, budget denial, and translation to a provider that does not speak it (Gemini).
 */

/** Published USD per million tokens, as integer pico-USD per token. */
const PICO = {
  'gpt-4.1-mini': { input: 400_000, output: 1_600_000, cached: 100_000 },
  'gemini-2.5-flash': { input: 300_000, output: 2_500_000, cached: 30_000 },
};
type Priced = keyof typeof PICO;
const expectedNanos = (model: Priced, uncached: number, cached: number, output: number) =>
  Math.ceil(
    (uncached * PICO[model].input + cached * PICO[model].cached + output * PICO[model].output) / 1000,
  );

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

/** One mock serves both wire formats: OpenAI's /v1/responses and Gemini's generateContent. */
let upstream: MockServer;
let h: Harness;
let secret: string;
let keyId: string;
let supportSecret: string;

beforeAll(async () => {
  upstream = await startMock({ recordRequests: 20, outputTokens: 24 });
  h = await startHarness({
    config: {
      providers: {
        mock: {
          kind: 'openai',
          base_url: `${upstream.url}/v1`,
          api_key: 'upstream-secret',
          forward_headers: ['x-mock-*'],
        },
        google: {
          kind: 'gemini',
          base_url: upstream.url,
          api_key: MOCK_GEMINI_API_KEY,
          forward_headers: ['x-mock-*'],
        },
      },
      models: [
        ...TEST_MODELS,
        { id: 'gemini-2.5-flash', provider: 'google', max_output_tokens: 65536 },
        { id: 'text-embedding-3-small', provider: 'mock', prices: { output: 0 } },
      ],
      budgets: [
        { id: 'search-cap', match: { team: 'search' }, limit: { usd: 50 } },
        { id: 'support-tiny', match: { team: 'support' }, limit: { usd: 0.000001 }, clamp: false },
      ],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
  supportSecret = (await h.createKey({ team: 'support', project: 'bot', env: 'prod' })).secret;
});
afterAll(async () => {
  await h.close();
  await upstream.close();
});

const finalRow = (callId: string): Promise<CallRecord> => h.finalRow(callId, keyId);

describe('Responses API, native (official openai client → gateway → mock /v1/responses)', () => {
  it("the test's prices are the bundled ones", () => {
    expect(bundledPrices('gpt-4.1-mini', 'openai')).toMatchObject({
      input: PICO['gpt-4.1-mini'].input,
      output: PICO['gpt-4.1-mini'].output,
      cacheRead: PICO['gpt-4.1-mini'].cached,
    });
    expect(bundledPrices('gemini-2.5-flash', 'google')).toMatchObject({
      input: PICO['gemini-2.5-flash'].input,
      output: PICO['gemini-2.5-flash'].output,
      cacheRead: PICO['gemini-2.5-flash'].cached,
    });
  });

  it('JSON: usage and cost on the ledger row equal mock usage x published prices', async () => {
    const body = {
      model: 'gpt-4.1-mini',
      instructions: 'You are terse.',
      input: 'Name three rivers in Europe.',
      max_output_tokens: 100,
    };
    const { data, response } = await h.openai(secret).responses.create(body).withResponse();
    const input = mockResponsesInputTokens(body);
    expect(input).toBe(3 + 3 + countTokens('You are terse.') + 3 + countTokens(body.input));
    expect(data.object).toBe('response');
    expect(data.status).toBe('completed');
    expect(data.output_text).toBe(mockContent(24));
    expect(data.usage).toMatchObject({ input_tokens: input, output_tokens: 24, total_tokens: input + 24 });
    expect(upstream.received.at(-1)?.path).toBe('/v1/responses');
    expect(upstream.received.at(-1)?.headers.authorization).toBe('Bearer upstream-secret');

    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      status: 'ok',
      endpoint: '/v1/responses',
      stream: false,
      usageSource: 'provider',
      inputTokens: input,
      outputTokens: 24,
      cacheReadTokens: 0,
      reasoningTokens: 0,
    });
    expect(row.cost).toBe(expectedNanos('gpt-4.1-mini', input, 0, 24));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((row.cost / 1e9).toString());
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
  });

  it('cached input is billed at the cache price, reasoning as output (input includes cached; output includes reasoning)', async () => {
    const body = {
      model: 'gpt-4.1-mini',
      input: [
        { role: 'user' as const, content: 'A prompt long enough to be partly cached, in theory.' },
        { role: 'assistant' as const, content: 'Noted.' },
        { role: 'user' as const, content: [{ type: 'input_text' as const, text: 'Go on.' }] },
      ],
    };
    const { data, response } = await h
      .openai(secret)
      .responses.create(body, { headers: { 'x-mock-cached-tokens': '6', 'x-mock-reasoning-tokens': '10' } })
      .withResponse();
    const input = mockResponsesInputTokens(body);
    expect(data.usage).toMatchObject({
      input_tokens: input,
      input_tokens_details: { cached_tokens: 6 },
      output_tokens: 34,
      output_tokens_details: { reasoning_tokens: 10 },
    });
    expect(data.output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      inputTokens: input - 6,
      cacheReadTokens: 6,
      outputTokens: 34,
      reasoningTokens: 10,
    });
    expect(row.cost).toBe(expectedNanos('gpt-4.1-mini', input - 6, 6, 34));
  });

  it('streaming (responses.stream): typed events pass through; the ledger equals response.completed usage', async () => {
    const body = {
      model: 'gpt-4.1-mini',
      instructions: 'Answer in one line.',
      input: 'Tell me about tollgates.',
    };
    const stream = h.openai(secret).responses.stream(body, { headers: { 'x-mock-cached-tokens': '4' } });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    const final = await stream.finalResponse();
    expect(types[0]).toBe('response.created');
    expect(types).toContain('response.output_item.added');
    expect(types).toContain('response.content_part.added');
    expect(types.at(-1)).toBe('response.completed');
    expect(text).toBe(mockContent(24));
    expect(final.output_text).toBe(mockContent(24));
    const input = mockResponsesInputTokens(body);
    expect(final.usage).toMatchObject({ input_tokens: input, output_tokens: 24 });

    await h.gateway.services.ledger.flush();
    const [row] = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 1 });
    expect(row).toMatchObject({
      stream: true,
      status: 'ok',
      endpoint: '/v1/responses',
      usageSource: 'provider',
      inputTokens: input - 4,
      cacheReadTokens: 4,
      outputTokens: 24,
    });
    expect(row?.cost).toBe(expectedNanos('gpt-4.1-mini', input - 4, 4, 24));
  });

  it('streaming a forced function tool (stream: true): argument deltas, function_call item, exact cost', async () => {
    const body = {
      model: 'gpt-4.1-mini',
      input: 'What is the weather in Berlin?',
      tools: [weatherTool],
      tool_choice: 'required' as const,
      stream: true as const,
    };
    const { data: stream, response } = await h.openai(secret).responses.create(body).withResponse();
    let args = '';
    let done: Record<string, unknown> | null = null;
    let usage: Record<string, unknown> | null = null;
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.delta') args += event.delta;
      if (event.type === 'response.output_item.done') done = event.item as unknown as Record<string, unknown>;
      if (event.type === 'response.completed')
        usage = event.response.usage as unknown as Record<string, unknown>;
    }
    expect(JSON.parse(args)).toEqual({ text: mockContent(24) });
    expect(done).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: args });
    const input = mockResponsesInputTokens(body);
    expect(input).toBeGreaterThan(countTokens(JSON.stringify([weatherTool])));
    expect(usage).toMatchObject({ input_tokens: input, output_tokens: 24 });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({ usageSource: 'provider', inputTokens: input, outputTokens: 24 });
    expect(row.cost).toBe(expectedNanos('gpt-4.1-mini', input, 0, 24));
  });

  it('max_output_tokens caps the reply (response.incomplete) and the reservation; reasoning counts against it', async () => {
    const body = { model: 'gpt-4.1-mini', input: 'Write a lot.', max_output_tokens: 20 };
    const { data, response } = await h
      .openai(secret)
      .responses.create(body, { headers: { 'x-mock-reasoning-tokens': '5' } })
      .withResponse();
    expect(data.status).toBe('incomplete');
    expect(data.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(data.usage?.output_tokens).toBe(20);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    const input = mockResponsesInputTokens(body);
    expect(row.cost).toBe(expectedNanos('gpt-4.1-mini', input, 0, 20));
    // The reservation covered at most 20 output tokens (plus the estimated input).
    expect(row.reservedTokens).toBeLessThan(20 + input * 2 + 20);
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
  });

  it('a budget that cannot cover the worst case: 429 budget_exceeded with x-budget-exceeded, nothing forwarded', async () => {
    const before = upstream.received.length;
    const err = await h
      .openai(supportSecret)
      .responses.create({ model: 'gpt-4.1-mini', input: 'hello' })
      .catch((e: { status: number; code: string; headers: Headers }) => e);
    expect(err).toMatchObject({ status: 429, code: 'budget_exceeded' });
    expect((err as { headers: Headers }).headers.get('x-budget-exceeded')).toBe('support-tiny');
    const streamErr = await h
      .openai(supportSecret)
      .responses.create({ model: 'gpt-4.1-mini', input: 'hello', stream: true })
      .catch((e: { status: number; code: string }) => e);
    expect(streamErr).toMatchObject({ status: 429, code: 'budget_exceeded' });
    expect(upstream.received.length).toBe(before);
  });

  it('bad shapes get a clear 400 before anything is reserved', async () => {
    const bad = [
      { model: 'gpt-4.1-mini' },
      { model: 'gpt-4.1-mini', input: 42 },
      { model: 'gpt-4.1-mini', input: 'x', max_output_tokens: 0 },
      { model: 'gpt-4.1-mini', input: 'x', max_output_tokens: 1_000_000 },
      { model: 'gpt-4.1-mini', input: 'x', stream: 'yes' },
      { model: 'gpt-4.1-mini', input: [1, 2] },
    ];
    for (const body of bad) {
      const err = await h
        .openai(secret)
        .responses.create(body as unknown as ResponseCreateParams)
        .catch((e: { status: number; code: string }) => e);
      expect(err, JSON.stringify(body)).toMatchObject({ status: 400, code: 'invalid_request' });
    }
  });
});

describe('odd bodies never get a 5xx', () => {
  it('/v1/responses and /v1/embeddings answer arbitrary JSON with a 2xx or a catalogued 4xx', async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
      fc.array(
        fc.oneof(
          fc.string({ maxLength: 10 }),
          fc.integer(),
          fc.dictionary(
            fc.constantFrom('type', 'role', 'content', 'text', 'name', 'arguments', 'output', 'call_id'),
            fc.oneof(
              fc.string({ maxLength: 10 }),
              fc.constantFrom('message', 'input_text', 'function_call', 'function_call_output', 'reasoning'),
            ),
          ),
        ),
        { maxLength: 4 },
      ),
    );
    const body = fc.record(
      {
        model: fc.constantFrom('gpt-4.1-mini', 'gemini-2.5-flash', 'text-embedding-3-small', 7),
        input: value,
        instructions: value,
        tools: value,
        tool_choice: value,
        max_output_tokens: fc.oneof(fc.integer({ min: -5, max: 40_000 }), fc.constant(null)),
        stream: fc.oneof(fc.boolean(), fc.constant('x')),
      },
      { requiredKeys: [] },
    );
    const samples = fc.sample(fc.tuple(fc.constantFrom('/v1/responses', '/v1/embeddings'), body), {
      numRuns: 120,
      seed: 42,
    });
    for (const [path, b] of samples) {
      const res = await fetch(`${h.gateway.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
      const text = await res.text();
      expect(res.status, `${path} ${JSON.stringify(b)} → ${text.slice(0, 300)}`).toBeLessThan(500);
    }
    expect(await h.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});

describe('Responses streams that end badly are still billed, never $0', () => {
  const longStory = { model: 'gpt-4.1-mini', input: 'Tell me a long story.' };
  const slow = { 'x-mock-output-tokens': '200', 'x-mock-inter-chunk-ms': '5' };

  it('a client that abandons the stream: upstream aborted, billed on counted tokens', async () => {
    const abortedBefore = upstream.stats.aborted;
    const { data: stream, response } = await h
      .openai(secret)
      .responses.create({ ...longStory, stream: true }, { headers: slow })
      .withResponse();
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta' && ++deltas === 3) break;
    }
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('client_aborted');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBeGreaterThanOrEqual(3);
    expect(row.outputTokens).toBeLessThan(200);
    expect(row.inputTokens).toBeGreaterThanOrEqual(mockResponsesInputTokens(longStory));
    expect(row.cost).toBeGreaterThan(0);
    for (let i = 0; i < 50 && upstream.stats.aborted === abortedBefore; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(upstream.stats.aborted).toBeGreaterThan(abortedBefore);
  });

  it('an upstream that cuts the stream: the client gets an error event, the call is billed (estimated)', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .responses.create({ ...longStory, stream: true }, { headers: { ...slow, 'x-mock-fault': 'cut' } })
      .withResponse();
    let text = '';
    await expect(
      (async () => {
        for await (const event of stream)
          if (event.type === 'response.output_text.delta') text += event.delta;
      })(),
    ).rejects.toThrow(/Provider mock/);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('upstream_error');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBe(100);
    expect(text).toBe(mockContent(100));
    expect(row.cost).toBeGreaterThan(0);
  });

  it('response.failed mid-stream: passed to the client, recorded as an upstream error, billed on what was generated', async () => {
    const stream = h.openai(secret).responses.stream(longStory, {
      headers: { 'x-mock-output-tokens': '40', 'x-mock-fault': 'stream-error' },
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe('response.failed');
    await h.gateway.services.ledger.flush();
    const [row] = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 1 });
    expect(row).toMatchObject({ status: 'upstream_error', usageSource: 'estimated', outputTokens: 20 });
    expect(row?.cost).toBeGreaterThan(0);
  });

  it('after all of that, nothing is left in flight', async () => {
    expect(await h.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});

describe('Responses API translated to a provider that does not speak it (Gemini)', () => {
  const MODEL = 'gemini-2.5-flash';
  const lastGemini = () => upstream.received.at(-1)!;

  it('JSON: instructions → systemInstruction, input → contents; the answer is a response object; exact cost', async () => {
    const { data, response } = await h
      .openai(secret)
      .responses.create({
        model: MODEL,
        instructions: 'You are terse.',
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'Name three rivers.' }] }],
        max_output_tokens: 100,
      })
      .withResponse();
    expect(lastGemini().url).toBe(`/v1beta/models/${MODEL}:generateContent`);
    expect(lastGemini().body).toMatchObject({
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      contents: [{ role: 'user', parts: [{ text: 'Name three rivers.' }] }],
      generationConfig: { maxOutputTokens: 100 },
    });
    expect(data.object).toBe('response');
    expect(data.status).toBe('completed');
    expect(data.output_text).toBe(mockContent(24));
    const input = countTokens('You are terse.') + countTokens('Name three rivers.');
    expect(data.usage).toMatchObject({ input_tokens: input, output_tokens: 24, total_tokens: input + 24 });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      provider: 'google',
      usageSource: 'provider',
      inputTokens: input,
      outputTokens: 24,
    });
    expect(row.cost).toBe(expectedNanos(MODEL, input, 0, 24));
  });

  it('streaming: chat chunks become typed Responses events the SDK accumulates; usage in response.completed', async () => {
    const stream = h
      .openai(secret)
      .responses.stream(
        { model: MODEL, instructions: 'Answer in one line.', input: 'Stream about tollgates.' },
        { headers: { 'x-mock-cached-tokens': '3', 'x-mock-reasoning-tokens': '7' } },
      );
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(lastGemini().url).toBe(`/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`);
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(types.at(-1)).toBe('response.completed');
    expect(final.output_text).toBe(mockContent(24));
    const input = countTokens('Answer in one line.') + countTokens('Stream about tollgates.');
    expect(final.usage).toMatchObject({
      input_tokens: input,
      input_tokens_details: { cached_tokens: 3 },
      output_tokens: 31,
      output_tokens_details: { reasoning_tokens: 7 },
    });
    await h.gateway.services.ledger.flush();
    const [row] = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 1 });
    expect(row).toMatchObject({ stream: true, provider: 'google', usageSource: 'provider' });
    expect(row?.cost).toBe(expectedNanos(MODEL, input - 3, 3, 31));
  });

  it('embeddings cannot be translated: a model whose provider does not speak them gets a clear 400', async () => {
    const err = await h
      .openai(secret)
      .embeddings.create({ model: MODEL, input: 'hello' })
      .catch((e: { status: number; code: string; message: string }) => e);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((err as { message: string }).message).toMatch(/does not support \/v1\/embeddings/);
  });

  it('a forced function tool becomes a function_call output item', async () => {
    const { data } = await h
      .openai(secret)
      .responses.create({
        model: MODEL,
        input: 'Weather in Berlin?',
        tools: [weatherTool],
        tool_choice: { type: 'function', name: 'get_weather' },
      })
      .withResponse();
    const call = data.output.find((o) => o.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather' });
    expect(() => JSON.parse((call as { arguments: string }).arguments)).not.toThrow();
    expect(lastGemini().body).toMatchObject({
      tools: [{ functionDeclarations: [expect.objectContaining({ name: 'get_weather' })] }],
    });
  });
});
