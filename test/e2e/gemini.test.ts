import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { geminiPromptTokens, MOCK_GEMINI_API_KEY } from '../../src/mock/gemini/index.ts';
import { type MockServer, mockContent, startMock } from '../../src/mock/index.ts';
import { bundledPrices } from '../../src/pricing/bundled.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * Gemini through the real gateway: the official openai client on one side, the mock's
 * generateContent / streamGenerateContent (API key checked, request validated) on the other.
 */

const MODEL = 'gemini-2.5-flash';
/** Google's published USD per million tokens for gemini-2.5-flash, as integer pico-USD per token. */
const PICO = { input: 300_000, output: 2_500_000, cacheRead: 30_000 };
const expectedNanos = (u: { input: number; output: number; cacheRead?: number }) =>
  Math.ceil((u.input * PICO.input + (u.cacheRead ?? 0) * PICO.cacheRead + u.output * PICO.output) / 1000);
const tokens = (text: string) => countTokens(text);

const geminiProvider = (url: string, extra: Record<string, unknown> = {}) => ({
  kind: 'gemini',
  base_url: url,
  api_key: MOCK_GEMINI_API_KEY,
  forward_headers: ['x-mock-*'],
  ...extra,
});

let gemini: MockServer;
let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  gemini = await startMock({ recordRequests: 50, outputTokens: 24 });
  h = await startHarness({
    config: {
      providers: {
        google: geminiProvider(gemini.url),
        'google-bad-key': geminiProvider(gemini.url, { api_key: 'AIza-not-the-key' }),
        'google-slow': geminiProvider(gemini.url, { headers_timeout_ms: 300 }),
      },
      models: [
        { id: MODEL, provider: 'google', max_output_tokens: 65536 },
        { id: 'gemini-bad-key', provider: 'google-bad-key', upstream_model: MODEL, price_provider: 'google' },
        { id: 'gemini-slow', provider: 'google-slow', upstream_model: MODEL, price_provider: 'google' },
        {
          id: 'palm',
          provider: 'google',
          upstream_model: 'text-bison-001',
          prices: { input: 1, output: 1 },
        },
      ],
      budgets: [{ id: 'gemini-cap', match: { team: 'search' }, limit: { usd: 50 } }],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => {
  await h.close();
  await gemini.close();
});

const finalRow = (callId: string): Promise<CallRecord> => h.finalRow(callId, keyId);

const lastReceived = () => gemini.received.at(-1)!;
const lastBody = () => lastReceived().body as Parameters<typeof geminiPromptTokens>[0];

async function budgetState() {
  const r = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
    'GET',
    '/admin/v1/budgets/gemini-cap',
  );
  return r.body;
}

describe('Gemini generateContent through the gateway (official openai client)', () => {
  it("the test's prices are the bundled 'google' prices for gemini-2.5-flash", () => {
    expect(bundledPrices(MODEL, 'google')).toMatchObject(PICO);
  });

  it('JSON: system prompt → systemInstruction; tokens and cost on the ledger equal mock usage x Google prices', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Name three rivers in Europe.' },
    ];
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({ model: MODEL, messages, max_tokens: 100, temperature: 0.5 })
      .withResponse();

    const sent = lastReceived();
    expect(sent.url).toBe(`/v1beta/models/${MODEL}:generateContent`);
    expect(sent.body).toEqual({
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      contents: [{ role: 'user', parts: [{ text: 'Name three rivers in Europe.' }] }],
      generationConfig: { maxOutputTokens: 100, temperature: 0.5 },
    });
    expect(sent.headers['x-goog-api-key']).toBe(MOCK_GEMINI_API_KEY);
    expect(sent.headers.authorization).toBeUndefined();
    expect(JSON.stringify(sent.headers)).not.toContain(secret);

    const prompt = tokens('You are terse.') + tokens('Name three rivers in Europe.');
    expect(geminiPromptTokens(lastBody())).toBe(prompt);
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe(MODEL);
    expect(data.choices[0]?.message.content).toBe(mockContent(24));
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 24,
      total_tokens: prompt + 24,
    });

    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      status: 'ok',
      provider: 'google',
      usageSource: 'provider',
      inputTokens: prompt,
      outputTokens: 24,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    });
    expect(row.cost).toBe(expectedNanos({ input: prompt, output: 24 }));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((row.cost / 1e9).toString());
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
  });

  it('cached and thinking tokens: prompt includes cached (billed at the cache price), thoughts billed as output', async () => {
    const messages = [
      { role: 'user' as const, content: 'A prompt long enough to be partly cached, in theory.' },
    ];
    const prompt = tokens(messages[0]!.content);
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages },
        { headers: { 'x-mock-cached-tokens': '5', 'x-mock-reasoning-tokens': '40' } },
      )
      .withResponse();
    expect(data.usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 24 + 40,
      prompt_tokens_details: { cached_tokens: 5 },
      completion_tokens_details: { reasoning_tokens: 40 },
    });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      usageSource: 'provider',
      inputTokens: prompt - 5,
      cacheReadTokens: 5,
      outputTokens: 64,
      reasoningTokens: 40,
    });
    expect(row.cost).toBe(expectedNanos({ input: prompt - 5, cacheRead: 5, output: 64 }));
  });

  it('streaming with include_usage: SSE events become chunks; the ledger equals the final usageMetadata', async () => {
    const messages = [
      { role: 'system' as const, content: 'Answer in one line.' },
      { role: 'user' as const, content: 'Stream me a short answer about tollgates.' },
    ];
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-cached-tokens': '3', 'x-mock-reasoning-tokens': '7' } },
      )
      .withResponse();
    let text = '';
    let finish: string | null = null;
    let usage: Record<string, unknown> | null = null;
    let model = '';
    for await (const chunk of stream) {
      model = chunk.model;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage as unknown as Record<string, unknown>;
    }
    expect(lastReceived().url).toBe(`/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`);
    expect(lastReceived().body).toMatchObject({
      systemInstruction: { parts: [{ text: 'Answer in one line.' }] },
    });
    expect(text).toBe(mockContent(24));
    expect(finish).toBe('stop');
    expect(model).toBe(MODEL);
    const prompt = tokens('Answer in one line.') + tokens(messages[1]!.content);
    expect(usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 31,
      prompt_tokens_details: { cached_tokens: 3 },
      completion_tokens_details: { reasoning_tokens: 7 },
    });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      stream: true,
      usageSource: 'provider',
      inputTokens: prompt - 3,
      cacheReadTokens: 3,
      outputTokens: 31,
      reasoningTokens: 7,
    });
    expect(row.cost).toBe(expectedNanos({ input: prompt - 3, cacheRead: 3, output: 31 }));
  });

  it('streaming without include_usage: no usage chunk for the client, still settled on Gemini usage', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hello' }], stream: true })
      .withResponse();
    let chunks = 0;
    let sawUsage = false;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) sawUsage = true;
    }
    // One event per word; the first also carries the role, the last the finish reason.
    expect(chunks).toBe(24);
    expect(sawUsage).toBe(false);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.usageSource).toBe('provider');
    expect(row.cost).toBe(expectedNanos({ input: tokens('hello'), output: 24 }));
  });

  it('max_tokens, stop sequences, top_p and n map to generationConfig; finish reasons map back', async () => {
    const client = h.openai(secret);
    const short = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Go on.' }],
      max_completion_tokens: 5,
    });
    expect(lastBody()).toMatchObject({ generationConfig: { maxOutputTokens: 5 } });
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(5);

    const stopped = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Go on.' }],
      stop: ['fox'],
      top_p: 0.9,
    });
    expect(lastBody()).toMatchObject({ generationConfig: { stopSequences: ['fox'], topP: 0.9 } });
    expect(stopped.choices[0]?.message.content).toBe(' the quick brown');
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.usage?.completion_tokens).toBe(3);

    const { data: two, response } = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'Two takes.' }], n: 2, max_tokens: 10 })
      .withResponse();
    expect(lastBody()).toMatchObject({ generationConfig: { candidateCount: 2, maxOutputTokens: 10 } });
    expect(two.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(two.choices.map((c) => c.message.content)).toEqual([mockContent(10), mockContent(10)]);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({ outputTokens: 20, inputTokens: tokens('Two takes.') });
  });

  const weatherTool = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  };
  const callArgs = JSON.stringify({ city: mockContent(24).trim() });
  const callTokens = tokens('get_weather') + tokens(callArgs);

  it('tools: OpenAI tools become functionDeclarations; a functionCall comes back as tool_calls', async () => {
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [weatherTool],
        tool_choice: 'required',
      })
      .withResponse();
    expect(lastBody()).toMatchObject({
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather for a city',
              parametersJsonSchema: weatherTool.function.parameters,
            },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'ANY' } },
    });
    const choice = data.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe('get_weather');
    expect(call.function.arguments).toBe(callArgs);
    const prompt = geminiPromptTokens(lastBody());
    expect(data.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: callTokens });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({ usageSource: 'provider', inputTokens: prompt, outputTokens: callTokens });
    expect(row.cost).toBe(expectedNanos({ input: prompt, output: callTokens }));
  });

  it('tools, streamed: the functionCall arrives as one tool_calls chunk', async () => {
    const stream = await h.openai(secret).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool, { type: 'function', function: { name: 'get_time' } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
      stream_options: { include_usage: true },
    });
    let id = '';
    let name = '';
    let args = '';
    let finish: string | null = null;
    let usage: { completion_tokens: number } | null = null;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta?.tool_calls ?? []) {
        expect(call.index).toBe(0);
        id += call.id ?? '';
        name += call.function?.name ?? '';
        args += call.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(lastBody()).toMatchObject({
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
    });
    expect(id).toMatch(/^call_/);
    expect(name).toBe('get_weather');
    expect(args).toBe(callArgs);
    expect(finish).toBe('tool_calls');
    expect(usage?.completion_tokens).toBe(callTokens);
  });

  it('multi-turn with tool results: calls and results are matched by name, results join one user turn', async () => {
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'system', content: 'You are a weather bot.' },
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: 'Checking both.',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              {
                id: 'call_2',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'Sunny, 24C' },
          { role: 'tool', tool_call_id: 'call_2', content: '{"sky":"cloudy","celsius":19}' },
        ],
        tools: [weatherTool],
      })
      .withResponse();
    const body = lastBody();
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: 'You are a weather bot.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
        {
          role: 'model',
          parts: [
            { text: 'Checking both.' },
            {
              functionCall: { name: 'get_weather', args: { city: 'Paris' } },
              thoughtSignature: 'skip_thought_signature_validator',
            },
            { functionCall: { name: 'get_weather', args: { city: 'Rome' } } },
          ],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { output: 'Sunny, 24C' } } },
            { functionResponse: { name: 'get_weather', response: { sky: 'cloudy', celsius: 19 } } },
          ],
        },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather for a city',
              parametersJsonSchema: weatherTool.function.parameters,
            },
          ],
        },
      ],
    });
    // The last turn carries function results: the mock answers in text.
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.choices[0]?.message.content).toBe(mockContent(24));
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.inputTokens).toBe(geminiPromptTokens(body));
    expect(row.cost).toBe(expectedNanos({ input: geminiPromptTokens(body), output: 24 }));
  });

  it('a plain multi-turn conversation and a data-URL image (inlineData)', async () => {
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const data = await h.openai(secret).chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'Hi!' },
        { role: 'assistant', content: 'Hello. How can I help?' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this image?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}` } },
          ],
        },
      ],
    });
    expect(lastBody().contents).toEqual([
      { role: 'user', parts: [{ text: 'Hi!' }] },
      { role: 'model', parts: [{ text: 'Hello. How can I help?' }] },
      {
        role: 'user',
        parts: [{ text: 'What is in this image?' }, { inlineData: { mimeType: 'image/png', data: pixel } }],
      },
    ]);
    const prompt = tokens('Hi!') + tokens('Hello. How can I help?') + tokens('What is in this image?') + 258;
    expect(data.usage?.prompt_tokens).toBe(prompt);
  });
});

describe('Gemini streams that end badly are still billed, never $0', () => {
  const messages = [{ role: 'user' as const, content: 'Tell me a long story.' }];

  it('a client that abandons the stream after 3 chunks: billed on counted tokens', async () => {
    const abortedBefore = gemini.stats.aborted;
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-output-tokens': '200', 'x-mock-inter-chunk-ms': '5' } },
      )
      .withResponse();
    let n = 0;
    for await (const _chunk of stream) {
      if (++n === 3) break;
    }
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('client_aborted');
    // Gemini's running usageMetadata stops short of the real total: not used.
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBeGreaterThanOrEqual(3);
    expect(row.outputTokens).toBeLessThan(200);
    expect(row.inputTokens).toBeGreaterThanOrEqual(tokens(messages[0]!.content));
    expect(row.cost).toBeGreaterThan(0);
    for (let i = 0; i < 50 && gemini.stats.aborted === abortedBefore; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(gemini.stats.aborted).toBeGreaterThan(abortedBefore);
  });

  it('an upstream that cuts the stream: the client gets an error, the call is billed (estimated)', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true },
        { headers: { 'x-mock-fault': 'cut', 'x-mock-output-tokens': '200' } },
      )
      .withResponse();
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
    ).rejects.toThrow();
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('upstream_error');
    expect(row.usageSource).toBe('estimated');
    // 100 of the 200 word events arrived before the connection died.
    expect(text).toBe(mockContent(100));
    expect(row.outputTokens).toBe(100);
    expect(row.cost).toBe(expectedNanos({ input: row.inputTokens, output: 100 }));
    expect((await budgetState()).reserved.nanos).toBe(0);
  });

  it('an event that is not JSON: the client gets a stream error, the reservation settles', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true },
        { headers: { 'x-mock-fault': 'bad-json' } },
      )
      .withResponse();
    let text = '';
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })().catch((e: Error) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain('not valid JSON');
    expect(text).toBe(mockContent(1));
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('upstream_error');
    expect(row.errorCode).toBe('upstream_error');
    expect(row.usageSource).toBe('estimated');
    expect(row.cost).toBeGreaterThan(0);
    expect((await budgetState()).reserved.nanos).toBe(0);
  });

  it('a stream without usageMetadata is settled on counted tokens', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-fault': 'no-usage' } },
      )
      .withResponse();
    let finish: string | null = null;
    let sawUsage = false;
    for await (const chunk of stream) {
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) sawUsage = true;
    }
    expect(finish).toBe('stop');
    expect(sawUsage).toBe(false);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('ok');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBe(24);
    expect(row.cost).toBeGreaterThan(0);
  });
});

describe('Gemini failures give clear errors and cost $0', () => {
  it.each([
    ['429', false, 429, 'upstream_rate_limited'],
    ['429', true, 429, 'upstream_rate_limited'],
    ['500', false, 502, 'upstream_error'],
    ['503', true, 502, 'upstream_error'],
    ['bad-json', false, 502, 'upstream_error'],
    ['cut', false, 502, 'upstream_error'],
  ])(
    'fault %s (stream: %s) → HTTP %i %s, nothing spent or left in flight',
    async (fault, stream, status, code) => {
      const before = await budgetState();
      const err = await h
        .openai(secret)
        .chat.completions.create(
          { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, stream },
          { headers: { 'x-mock-fault': fault } },
        )
        .then(() => null)
        .catch((e: { status: number; code: string; headers: Headers }) => e);
      expect(err).toMatchObject({ status, code });
      const row = await finalRow(err?.headers.get('x-tollgate-call-id') ?? '');
      expect(row.status).toBe('upstream_error');
      expect(row.cost).toBe(0);
      const after = await budgetState();
      expect(after.spent.nanos).toBe(before.spent.nanos);
      expect(after.reserved.nanos).toBe(0);
    },
  );

  it('Google-style errors come through with their message: bad key, unknown model, invalid request', async () => {
    const client = h.openai(secret);
    const fail = (model: string, extra: Record<string, unknown> = {}) =>
      client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'hi' }], ...extra })
        .then(() => null)
        .catch((e: { status: number; code: string; message: string }) => e);

    const badKey = await fail('gemini-bad-key');
    expect(badKey).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(badKey?.message).toContain('API key not valid');

    const unknown = await fail('palm');
    expect(unknown).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(unknown?.message).toContain('models/text-bison-001 is not found');

    // An empty conversation has no Gemini contents: Gemini refuses it, the gateway says why.
    const empty = await fail(MODEL, { messages: [{ role: 'system', content: 'only a system prompt' }] });
    expect(empty).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(empty?.message).toContain('contents is not specified');
  });

  it('a provider that does not answer in time → 504 upstream_timeout, $0', async () => {
    const err = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'gemini-slow', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-mock-fault': 'timeout' } },
      )
      .then(() => null)
      .catch((e: { status: number; code: string; headers: Headers }) => e);
    expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
    const row = await finalRow(err?.headers.get('x-tollgate-call-id') ?? '');
    expect(row.cost).toBe(0);
  });
});
