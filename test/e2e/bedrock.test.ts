import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import {
  converseInputTokens,
  MOCK_AWS_ACCESS_KEY_ID,
  MOCK_AWS_SECRET_ACCESS_KEY,
} from '../../src/mock/bedrock/index.ts';
import { type MockServer, mockContent, startMock } from '../../src/mock/index.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * Bedrock through the real gateway: the official openai client on one side, the mock's
 * Converse / ConverseStream (SigV4 checked for real) on the other.
 */

const MODEL = 'anthropic.claude-3-5-sonnet-20241022-v2:0';
const ENCODED_MODEL = 'anthropic.claude-3-5-sonnet-20241022-v2%3A0';
/** Independent price oracle: AWS's published USD per million tokens, as integer pico-USD per token. */
const PICO = { input: 3_000_000, output: 15_000_000, cacheRead: 300_000, cacheWrite: 3_750_000 };
const expectedNanos = (u: { input: number; output: number; cacheRead?: number; cacheWrite?: number }) =>
  Math.ceil(
    (u.input * PICO.input +
      (u.cacheRead ?? 0) * PICO.cacheRead +
      (u.cacheWrite ?? 0) * PICO.cacheWrite +
      u.output * PICO.output) /
      1000,
  );
const tokens = (text: string) => countTokens(text);

const bedrockProvider = (url: string, extra: Record<string, unknown> = {}) => ({
  kind: 'bedrock',
  base_url: url,
  region: 'us-east-1',
  aws_access_key_id: MOCK_AWS_ACCESS_KEY_ID,
  aws_secret_access_key: MOCK_AWS_SECRET_ACCESS_KEY,
  forward_headers: ['x-mock-*'],
  ...extra,
});

let bedrock: MockServer;
let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  bedrock = await startMock({ recordRequests: 50, outputTokens: 24 });
  h = await startHarness({
    config: {
      providers: {
        aws: bedrockProvider(bedrock.url),
        'aws-wrong-secret': bedrockProvider(bedrock.url, { aws_secret_access_key: 'not-the-secret' }),
        'aws-slow': bedrockProvider(bedrock.url, { headers_timeout_ms: 300 }),
      },
      models: [
        { id: MODEL, provider: 'aws', max_output_tokens: 8192 },
        {
          id: 'claude-wrong-secret',
          provider: 'aws-wrong-secret',
          upstream_model: MODEL,
          price_provider: 'aws',
        },
        { id: 'claude-slow', provider: 'aws-slow', upstream_model: MODEL, price_provider: 'aws' },
      ],
      budgets: [{ id: 'aws-cap', match: { team: 'search' }, limit: { usd: 50 } }],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => {
  await h.close();
  await bedrock.close();
});

const finalRow = (callId: string): Promise<CallRecord> => h.finalRow(callId, keyId);

const lastReceived = () => bedrock.received.at(-1)!;
const lastBody = () => lastReceived().body as Parameters<typeof converseInputTokens>[0];

async function budgetState() {
  const r = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
    'GET',
    '/admin/v1/budgets/aws-cap',
  );
  return r.body;
}

describe('Bedrock Converse through the gateway (official openai client)', () => {
  it('JSON: a signed Converse call; tokens and cost on the ledger equal mock usage x AWS prices', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Name three rivers in Europe.' },
    ];
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({ model: MODEL, messages, max_tokens: 100, temperature: 0.5 })
      .withResponse();

    const sent = lastReceived();
    expect(sent.path).toBe(`/model/${ENCODED_MODEL}/converse`);
    expect(sent.body).toEqual({
      messages: [{ role: 'user', content: [{ text: 'Name three rivers in Europe.' }] }],
      system: [{ text: 'You are terse.' }],
      inferenceConfig: { maxTokens: 100, temperature: 0.5 },
    });
    expect(sent.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    expect(sent.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(JSON.stringify(sent.headers)).not.toContain(secret);

    // 3 priming + system + (3 + the user message): the mock's documented count.
    const prompt = 3 + tokens('You are terse.') + 3 + tokens('Name three rivers in Europe.');
    expect(converseInputTokens(lastBody())).toBe(prompt);
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
      provider: 'aws',
      usageSource: 'provider',
      inputTokens: prompt,
      outputTokens: 24,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    expect(row.cost).toBe(expectedNanos({ input: prompt, output: 24 }));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((row.cost / 1e9).toString());
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
  });

  it('cache reads and writes are billed by kind (Bedrock inputTokens exclude them)', async () => {
    const messages = [
      { role: 'user' as const, content: 'A prompt long enough to be partly cached, in theory.' },
    ];
    const prompt = 3 + 3 + tokens(messages[0]!.content);
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, max_tokens: 50 },
        { headers: { 'x-mock-cached-tokens': '5', 'x-mock-cache-write-tokens': '7' } },
      )
      .withResponse();
    expect(data.usage?.prompt_tokens).toBe(prompt);
    expect(data.usage?.prompt_tokens_details?.cached_tokens).toBe(5);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      inputTokens: prompt - 12,
      cacheReadTokens: 5,
      cacheWriteTokens: 7,
      outputTokens: 24,
    });
    expect(row.cost).toBe(expectedNanos({ input: prompt - 12, cacheRead: 5, cacheWrite: 7, output: 24 }));
  });

  it('streaming with include_usage: ConverseStream frames become chunks; the ledger equals the metadata usage', async () => {
    const messages = [{ role: 'user' as const, content: 'Stream me a short answer about tollgates.' }];
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: MODEL,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let text = '';
    let finish: string | null = null;
    let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
    let model = '';
    for await (const chunk of stream) {
      model = chunk.model;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(lastReceived().path).toBe(`/model/${ENCODED_MODEL}/converse-stream`);
    expect(text).toBe(mockContent(24));
    expect(finish).toBe('stop');
    expect(model).toBe(MODEL);
    const prompt = 3 + 3 + tokens(messages[0]!.content);
    expect(usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: 24 });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      stream: true,
      usageSource: 'provider',
      inputTokens: prompt,
      outputTokens: 24,
    });
    expect(row.cost).toBe(expectedNanos({ input: prompt, output: 24 }));
  });

  it('streaming without include_usage: no usage chunk for the client, still settled on Bedrock usage', async () => {
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
    expect(chunks).toBe(1 + 24 + 1);
    expect(sawUsage).toBe(false);
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.usageSource).toBe('provider');
    expect(row.cost).toBe(expectedNanos({ input: 3 + 3 + tokens('hello'), output: 24 }));
  });

  it('max_tokens and stop sequences map to inferenceConfig; finish reasons map back', async () => {
    const client = h.openai(secret);
    const short = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Go on.' }],
      max_completion_tokens: 5,
    });
    expect(lastBody()).toMatchObject({ inferenceConfig: { maxTokens: 5 } });
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(5);

    const stopped = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Go on.' }],
      stop: ['fox'],
      top_p: 0.9,
    });
    expect(lastBody()).toMatchObject({ inferenceConfig: { stopSequences: ['fox'], topP: 0.9 } });
    expect(stopped.choices[0]?.message.content).toBe(' the quick brown');
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.usage?.completion_tokens).toBe(3);
  });

  const weatherTool = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  it('tools: OpenAI tools become a toolConfig; toolUse comes back as tool_calls', async () => {
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
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: 'get_weather',
              description: 'Current weather for a city',
              inputSchema: { json: weatherTool.function.parameters },
            },
          },
        ],
        toolChoice: { any: {} },
      },
    });
    const choice = data.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.id).toMatch(/^tooluse_/);
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: mockContent(24).trim() });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    const prompt = converseInputTokens(lastBody());
    expect(row).toMatchObject({ usageSource: 'provider', inputTokens: prompt, outputTokens: 24 });
    expect(row.cost).toBe(expectedNanos({ input: prompt, output: 24 }));
  });

  it('tools, streamed: contentBlockStart/Delta become tool_calls chunks that assemble into the call', async () => {
    const stream = await h.openai(secret).chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(lastBody()).toMatchObject({ toolConfig: { toolChoice: { tool: { name: 'get_weather' } } } });
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
    expect(id).toMatch(/^tooluse_/);
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ city: mockContent(24).trim() });
    expect(finish).toBe('tool_calls');
    expect(usage?.completion_tokens).toBe(24);
  });

  it('multi-turn with tool results: roles alternate, tool results join one user turn, the answer is text', async () => {
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
          { role: 'tool', tool_call_id: 'call_2', content: 'Cloudy, 19C' },
          { role: 'user', content: 'Which is warmer?' },
        ],
        tools: [weatherTool],
      })
      .withResponse();
    const body = lastBody();
    expect(body).toEqual({
      system: [{ text: 'You are a weather bot.' }],
      messages: [
        { role: 'user', content: [{ text: 'Weather in Paris and Rome?' }] },
        {
          role: 'assistant',
          content: [
            { text: 'Checking both.' },
            { toolUse: { toolUseId: 'call_1', name: 'get_weather', input: { city: 'Paris' } } },
            { toolUse: { toolUseId: 'call_2', name: 'get_weather', input: { city: 'Rome' } } },
          ],
        },
        {
          role: 'user',
          content: [
            { toolResult: { toolUseId: 'call_1', content: [{ text: 'Sunny, 24C' }] } },
            { toolResult: { toolUseId: 'call_2', content: [{ text: 'Cloudy, 19C' }] } },
            { text: 'Which is warmer?' },
          ],
        },
      ],
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: 'get_weather',
              description: 'Current weather for a city',
              inputSchema: { json: weatherTool.function.parameters },
            },
          },
        ],
      },
    });
    // The last turn carries tool results: the mock answers in text.
    expect(data.choices[0]?.finish_reason).toBe('stop');

    const second = await h.openai(secret).chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_9',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_9', content: 'Sunny, 24C' },
      ],
      tools: [weatherTool],
    });
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content).toBe(mockContent(24));

    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.inputTokens).toBe(converseInputTokens(body));
  });

  it('a plain multi-turn conversation and a data-URL image', async () => {
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
    expect(lastBody().messages).toEqual([
      { role: 'user', content: [{ text: 'Hi!' }] },
      { role: 'assistant', content: [{ text: 'Hello. How can I help?' }] },
      {
        role: 'user',
        content: [{ text: 'What is in this image?' }, { image: { format: 'png', source: { bytes: pixel } } }],
      },
    ]);
    const prompt =
      3 +
      (3 + tokens('Hi!')) +
      (3 + tokens('Hello. How can I help?')) +
      (3 + tokens('What is in this image?') + 85);
    expect(data.usage?.prompt_tokens).toBe(prompt);
  });

  it('an image by http URL: Bedrock only takes bytes or S3, so the provider refuses it (400, $0)', async () => {
    const err = await h
      .openai(secret)
      .chat.completions.create({
        model: MODEL,
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }],
          },
        ],
      })
      .catch((e: { status: number; code: string; message: string }) => e);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((err as { message: string }).message).toContain('S3 URI');
  });
});

describe('Bedrock streams that end badly are still billed, never $0', () => {
  const messages = [{ role: 'user' as const, content: 'Tell me a long story.' }];

  it('a client that abandons the stream after 3 chunks: billed on counted tokens', async () => {
    const abortedBefore = bedrock.stats.aborted;
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true },
        { headers: { 'x-mock-output-tokens': '200', 'x-mock-inter-chunk-ms': '5' } },
      )
      .withResponse();
    let n = 0;
    for await (const _chunk of stream) {
      if (++n === 3) break;
    }
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('client_aborted');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBeGreaterThanOrEqual(2);
    expect(row.outputTokens).toBeLessThan(200);
    expect(row.inputTokens).toBeGreaterThanOrEqual(3 + 3 + tokens(messages[0]!.content));
    expect(row.cost).toBeGreaterThan(0);
    for (let i = 0; i < 50 && bedrock.stats.aborted === abortedBefore; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(bedrock.stats.aborted).toBeGreaterThan(abortedBefore);
  });

  it('an upstream that dies in the middle of a frame: the client gets an error, the call is billed (estimated)', async () => {
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
    // messageStart and 100 whole word frames arrived; the 101st was cut in half.
    expect(text).toBe(mockContent(100));
    expect(row.outputTokens).toBe(100);
    expect(row.cost).toBe(expectedNanos({ input: row.inputTokens, output: 100 }));
    expect(row.cost).toBeGreaterThan(0);
  });

  it('a corrupt frame (bad CRC): the client gets a stream error, the reservation settles', async () => {
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
    expect((failure as Error).message).toContain('CRC');
    expect(text).toBe(mockContent(1));
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('upstream_error');
    expect(row.errorCode).toBe('upstream_error');
    expect(row.usageSource).toBe('estimated');
    expect(row.cost).toBeGreaterThan(0);
    expect((await budgetState()).reserved.nanos).toBe(0);
  });

  it('a stream without the metadata event is settled on counted tokens', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: MODEL, messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-fault': 'no-usage' } },
      )
      .withResponse();
    let finish: string | null = null;
    for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('stop');
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.status).toBe('ok');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBe(24);
    expect(row.cost).toBeGreaterThan(0);
  });
});

describe('Bedrock failures give clear errors and cost $0', () => {
  it.each([
    ['429', false, 429, 'upstream_rate_limited'],
    ['500', false, 502, 'upstream_error'],
    ['503', true, 502, 'upstream_error'],
    ['429', true, 429, 'upstream_rate_limited'],
    ['bad-json', false, 502, 'upstream_error'],
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

  it('a wrong AWS secret: Bedrock refuses the signature (403) → 502 naming it, $0', async () => {
    const err = await h
      .openai(secret)
      .chat.completions.create({ model: 'claude-wrong-secret', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: { status: number; code: string; message: string }) => e);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
    expect((err as { message: string }).message).toContain('signature we calculated does not match');
  });

  it('an upstream that never answers times out with 504 and releases', async () => {
    const err = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'claude-slow', messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-mock-fault': 'timeout' } },
      )
      .catch((e: { status: number; code: string }) => e);
    expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
    expect(await h.gateway.services.budgets.counters.openReservations()).toBe(0);
  });

  it('the mock refuses unsigned and tampered requests as Bedrock does', async () => {
    const url = `${bedrock.url}/model/${ENCODED_MODEL}/converse`;
    const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] });
    const unsigned = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    const bad = await fetch(url, {
      method: 'POST',
      body,
      headers: { authorization: 'AWS4-HMAC-SHA256 garbage', 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(403);
    expect(await bad.json()).toHaveProperty('message');
  });
});

describe('1,000 concurrent streaming calls to Bedrock against a $1 team cap', () => {
  const CAP_NANOS = 1_000_000_000;
  let mock: MockServer;
  let c: Harness;

  beforeAll(async () => {
    mock = await startMock({ outputTokens: 5000, ttftMs: 30 });
    c = await startHarness({
      config: {
        providers: { aws: bedrockProvider(mock.url) },
        models: [{ id: MODEL, provider: 'aws', max_output_tokens: 8192 }],
        budgets: [
          {
            id: 'search-team-cap',
            match: { team: 'search' },
            limit: { usd: 1 },
            window: { kind: 'calendar', every: 'month', tz: 'UTC' },
          },
        ],
      },
    });
  });
  afterAll(async () => {
    await c.close();
    await mock.close();
  });

  it('settled spend never exceeds the cap; the rest get 429; counters equal the ledger', async () => {
    const key = await c.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const client = new OpenAI({
      baseURL: `${c.gateway.url}/v1`,
      apiKey: key.secret,
      maxRetries: 0,
      timeout: 60_000,
    });
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        try {
          const s = await client.chat.completions.create({
            model: MODEL,
            messages: [{ role: 'user', content: `burst call ${i}` }],
            max_tokens: 1000,
            stream: true,
          });
          for await (const _chunk of s) {
            // drain
          }
          return { ok: true as const };
        } catch (err) {
          const e = err as { status?: number; headers?: Headers; code?: string };
          return {
            ok: false as const,
            status: e.status,
            code: e.code,
            policy: e.headers?.get('x-budget-exceeded'),
          };
        }
      }),
    );
    const ok = results.filter((r) => r.ok).length;
    const denied = results.filter((r) => !r.ok);
    expect(ok + denied.length).toBe(1000);
    expect(ok).toBeGreaterThan(30);
    for (const d of denied)
      expect(d).toMatchObject({ status: 429, code: 'budget_exceeded', policy: 'search-team-cap' });

    await c.gateway.services.ledger.flush();
    const rows = await c.gateway.services.store.ledger.queryCalls({ team: 'search', limit: 10_000 });
    expect(rows.length).toBe(1000);
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(settled).toBeLessThanOrEqual(CAP_NANOS);
    expect(settled).toBeGreaterThan(CAP_NANOS * 0.9);
    const okRows = rows.filter((r) => r.status === 'ok');
    expect(okRows.length).toBe(ok);
    // Every answer settled on Bedrock's own usage; the last few were clamped below 1000 to fit.
    const off = okRows.filter((r) => r.usageSource !== 'provider' || r.outputTokens > 1000);
    expect(off).toEqual([]);
    expect(okRows.filter((r) => r.outputTokens === 1000).length).toBeGreaterThan(ok / 2);

    const status = await c.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
      'GET',
      '/admin/v1/budgets/search-team-cap',
    );
    expect(status.body.spent.nanos).toBe(settled);
    expect(status.body.reserved.nanos).toBe(0);
    expect(await c.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});
