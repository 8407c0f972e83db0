import Anthropic from '@anthropic-ai/sdk';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import {
  anthropicInputTokens,
  MEDIA_TOKENS,
  type MessagesBody,
  MOCK_ANTHROPIC_API_KEY,
} from '../../src/mock/anthropic/index.ts';
import {
  type ChatBody,
  type MockServer,
  mockContent,
  mockPromptTokens,
  startMock,
} from '../../src/mock/index.ts';
import { bundledPrices } from '../../src/pricing/bundled.ts';
import { type Harness, startHarness, TEST_MODELS } from '../helpers/harness.ts';

/**
 * Anthropic through the real gateway, both directions: the official @anthropic-ai/sdk against
 * Claude (native pass-through) and against an OpenAI model (translated), and the official openai
 * client against Claude (translated), all on the mock's Messages API and chat completions.
 */

const SONNET = 'claude-sonnet-4-20250514';
/** Anthropic's published prices for Claude Sonnet 4, USD per million tokens → integer pico-USD per token. */
const SONNET_PICO = { input: 3_000_000, output: 15_000_000, cacheWrite: 3_750_000, cacheRead: 300_000 };
/** OpenAI's published prices for gpt-4.1: $2 in, $8 out, $0.50 cached input per million tokens. */
const GPT_PICO = { input: 2_000_000, output: 8_000_000, cacheRead: 500_000 };

interface Tokens {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}
const sonnetNanos = (u: Tokens) =>
  Math.ceil(
    (u.input * SONNET_PICO.input +
      u.output * SONNET_PICO.output +
      (u.cacheRead ?? 0) * SONNET_PICO.cacheRead +
      (u.cacheWrite ?? 0) * SONNET_PICO.cacheWrite) /
      1000,
  );
const gptNanos = (u: Tokens) =>
  Math.ceil(
    (u.input * GPT_PICO.input + u.output * GPT_PICO.output + (u.cacheRead ?? 0) * GPT_PICO.cacheRead) / 1000,
  );
const tokens = (text: string) => countTokens(text);

const anthropicProvider = (url: string, extra: Record<string, unknown> = {}) => ({
  kind: 'anthropic',
  base_url: url,
  api_key: MOCK_ANTHROPIC_API_KEY,
  forward_headers: ['x-mock-*'],
  ...extra,
});

function gatewayConfig(url: string, budgets: unknown[]) {
  return {
    providers: {
      mock: {
        kind: 'openai',
        base_url: `${url}/v1`,
        api_key: 'upstream-secret',
        forward_headers: ['x-mock-*'],
      },
      anthropic: anthropicProvider(url),
      'anthropic-bad-key': anthropicProvider(url, { api_key: 'sk-ant-not-the-key' }),
    },
    models: [
      ...TEST_MODELS,
      { id: SONNET, provider: 'anthropic', max_output_tokens: 64000 },
      {
        id: 'claude-bad-key',
        provider: 'anthropic-bad-key',
        upstream_model: SONNET,
        price_provider: 'anthropic',
      },
    ],
    budgets,
  };
}

let upstream: MockServer;
let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  upstream = await startMock({ recordRequests: 50, outputTokens: 24 });
  h = await startHarness({
    config: gatewayConfig(upstream.url, [
      { id: 'anthropic-cap', match: { team: 'search' }, limit: { usd: 50 } },
      { id: 'support-strict', match: { team: 'support' }, limit: { usd: 0.001 }, clamp: false },
    ]),
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => {
  await h.close();
  await upstream.close();
});

const claude = (key = secret) => new Anthropic({ baseURL: h.gateway.url, apiKey: key, maxRetries: 0 });
const callId = (response: Response) => response.headers.get('x-tollgate-call-id') ?? '';
const lastReceived = () => upstream.received.at(-1)!;
const lastMessagesBody = () => lastReceived().body as MessagesBody;
const lastChatBody = () => lastReceived().body as ChatBody;

const finalRow = (callId: string, ofKey = keyId): Promise<CallRecord> => h.finalRow(callId, ofKey);

async function budgetState(id = 'anthropic-cap') {
  const r = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
    'GET',
    `/admin/v1/budgets/${id}`,
  );
  return r.body;
}

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};
const weatherInput = { city: mockContent(24).trim() };
const weatherTokens = tokens('get_weather') + tokens(JSON.stringify(weatherInput));

describe('@anthropic-ai/sdk → Claude (native pass-through)', () => {
  it("the test's prices are the bundled 'anthropic' prices for claude-sonnet-4", () => {
    expect(bundledPrices(SONNET, 'anthropic')).toMatchObject(SONNET_PICO);
  });

  it('JSON: forwarded as-is with the provider key; tokens by kind and cost on the ledger equal mock usage x prices', async () => {
    const { data, response } = await claude()
      .messages.create(
        {
          model: SONNET,
          max_tokens: 100,
          system: 'You are terse.',
          messages: [{ role: 'user', content: 'Name three rivers in Europe.' }],
        },
        { headers: { 'x-mock-cached-tokens': '3', 'x-mock-cache-write-tokens': '5' } },
      )
      .withResponse();

    const sent = lastReceived();
    expect(sent.path).toBe('/v1/messages');
    expect(sent.body).toEqual({
      model: SONNET,
      max_tokens: 100,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Name three rivers in Europe.' }],
    });
    expect(sent.headers['x-api-key']).toBe(MOCK_ANTHROPIC_API_KEY);
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(JSON.stringify(sent.headers)).not.toContain(secret);

    const prompt = tokens('You are terse.') + tokens('Name three rivers in Europe.');
    expect(anthropicInputTokens(lastMessagesBody())).toBe(prompt);
    expect(data).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: SONNET,
      content: [{ type: 'text', text: mockContent(24) }],
      stop_reason: 'end_turn',
      usage: {
        input_tokens: prompt - 8,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 5,
        output_tokens: 24,
      },
    });

    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      status: 'ok',
      endpoint: '/v1/messages',
      provider: 'anthropic',
      stream: false,
      usageSource: 'provider',
      inputTokens: prompt - 8,
      cacheReadTokens: 3,
      cacheWriteTokens: 5,
      outputTokens: 24,
      reasoningTokens: 0,
    });
    expect(row.cost).toBe(sonnetNanos({ input: prompt - 8, cacheRead: 3, cacheWrite: 5, output: 24 }));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((row.cost / 1e9).toString());
    // The input estimate reserved is an upper bound of what the provider counted.
    expect(row.reservedTokens - 100).toBeGreaterThanOrEqual(prompt);
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
  });

  it('streaming (messages.stream): events pass through; usage from message_start + message_delta', async () => {
    const stream = claude().messages.stream(
      { model: SONNET, max_tokens: 200, messages: [{ role: 'user', content: 'Stream me a short answer.' }] },
      { headers: { 'x-mock-cached-tokens': '2', 'x-mock-cache-write-tokens': '1' } },
    );
    let text = '';
    stream.on('text', (t) => {
      text += t;
    });
    const { response } = await stream.withResponse();
    const message = await stream.finalMessage();
    const prompt = tokens('Stream me a short answer.');
    expect(text).toBe(mockContent(24));
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({
      input_tokens: prompt - 3,
      cache_read_input_tokens: 2,
      cache_creation_input_tokens: 1,
      output_tokens: 24,
    });
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      status: 'ok',
      stream: true,
      usageSource: 'provider',
      inputTokens: prompt - 3,
      cacheReadTokens: 2,
      cacheWriteTokens: 1,
      outputTokens: 24,
    });
    expect(row.cost).toBe(sonnetNanos({ input: prompt - 3, cacheRead: 2, cacheWrite: 1, output: 24 }));
  });

  it('stream: true yields the event sequence Anthropic sends', async () => {
    const events = await claude().messages.create({
      model: SONNET,
      max_tokens: 3,
      stream: true,
      messages: [{ role: 'user', content: 'Three words.' }],
    });
    const types: string[] = [];
    for await (const event of events) types.push(event.type);
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('tools: a forced tool_use block (JSON) and a streamed one (input_json_delta), billed on its tokens', async () => {
    const { data, response } = await claude()
      .messages.create({
        model: SONNET,
        max_tokens: 300,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [weatherTool],
        tool_choice: { type: 'tool', name: 'get_weather' },
      })
      .withResponse();
    expect(data.stop_reason).toBe('tool_use');
    expect(data.content).toEqual([
      { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'get_weather', input: weatherInput },
    ]);
    const prompt = anthropicInputTokens(lastMessagesBody());
    expect(data.usage).toMatchObject({ input_tokens: prompt, output_tokens: weatherTokens });
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({ usageSource: 'provider', inputTokens: prompt, outputTokens: weatherTokens });
    expect(row.cost).toBe(sonnetNanos({ input: prompt, output: weatherTokens }));

    const stream = claude().messages.stream({
      model: SONNET,
      max_tokens: 300,
      messages: [{ role: 'user', content: 'Weather in Rome?' }],
      tools: [weatherTool],
      tool_choice: { type: 'any' },
    });
    const streamed = await stream.finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content).toMatchObject([{ type: 'tool_use', name: 'get_weather', input: weatherInput }]);
    expect(streamed.usage.output_tokens).toBe(weatherTokens);
  });

  it('a tool round trip: tool_use then tool_result answers in text', async () => {
    const first = await claude().messages.create(
      {
        model: SONNET,
        max_tokens: 300,
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
        tools: [weatherTool],
      },
      { headers: { 'x-mock-tool-call': '1' } },
    );
    const use = first.content.find((b) => b.type === 'tool_use');
    if (use?.type !== 'tool_use') throw new Error('expected a tool_use block');
    const { data, response } = await claude()
      .messages.create(
        {
          model: SONNET,
          max_tokens: 300,
          tools: [weatherTool],
          messages: [
            { role: 'user', content: 'Weather in Oslo?' },
            { role: 'assistant', content: first.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Snow, -3C' }] },
          ],
        },
        { headers: { 'x-mock-tool-call': '1' } },
      )
      .withResponse();
    expect(data.stop_reason).toBe('end_turn');
    expect(data.content).toEqual([{ type: 'text', text: mockContent(24) }]);
    const prompt = anthropicInputTokens(lastMessagesBody());
    expect(prompt).toBe(
      tokens('Weather in Oslo?') +
        tokens('get_weather') +
        tokens(JSON.stringify(use.input)) +
        tokens('Snow, -3C') +
        tokens(JSON.stringify([weatherTool])),
    );
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({ inputTokens: prompt, outputTokens: 24 });
    expect(row.cost).toBe(sonnetNanos({ input: prompt, output: 24 }));
  });
});

describe('openai client → Claude (translated to the Messages API)', () => {
  it('JSON: system prompt, multi-turn and sampling fields become a Messages body; usage maps back', async () => {
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create(
        {
          model: SONNET,
          messages: [
            { role: 'system', content: 'You are terse.' },
            { role: 'user', content: 'Hi!' },
            { role: 'assistant', content: 'Hello. How can I help?' },
            { role: 'user', content: 'Name three rivers.' },
          ],
          max_tokens: 100,
          temperature: 0.5,
          top_p: 0.9,
        },
        { headers: { 'x-mock-cached-tokens': '2', 'x-mock-cache-write-tokens': '4' } },
      )
      .withResponse();
    const sent = lastReceived();
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers['x-api-key']).toBe(MOCK_ANTHROPIC_API_KEY);
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body).toEqual({
      model: SONNET,
      max_tokens: 100,
      system: 'You are terse.',
      messages: [
        { role: 'user', content: 'Hi!' },
        { role: 'assistant', content: 'Hello. How can I help?' },
        { role: 'user', content: 'Name three rivers.' },
      ],
      temperature: 0.5,
      top_p: 0.9,
    });
    const prompt =
      tokens('You are terse.') +
      tokens('Hi!') +
      tokens('Hello. How can I help?') +
      tokens('Name three rivers.');
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe(SONNET);
    expect(data.choices[0]?.message.content).toBe(mockContent(24));
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 24,
      total_tokens: prompt + 24,
      prompt_tokens_details: { cached_tokens: 2 },
    });
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      status: 'ok',
      endpoint: '/v1/chat/completions',
      usageSource: 'provider',
      inputTokens: prompt - 6,
      cacheReadTokens: 2,
      cacheWriteTokens: 4,
      outputTokens: 24,
    });
    expect(row.cost).toBe(sonnetNanos({ input: prompt - 6, cacheRead: 2, cacheWrite: 4, output: 24 }));
  });

  it('max_tokens defaults to the model limit (Anthropic requires it); stop becomes stop_sequences', async () => {
    const stopped = await h.openai(secret).chat.completions.create({
      model: SONNET,
      messages: [{ role: 'user', content: 'Go on.' }],
      stop: ['fox'],
    });
    expect(lastMessagesBody()).toMatchObject({ max_tokens: 64000, stop_sequences: ['fox'] });
    expect(stopped.choices[0]?.message.content).toBe(' the quick brown');
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.usage?.completion_tokens).toBe(3);

    const short = await h.openai(secret).chat.completions.create({
      model: SONNET,
      messages: [{ role: 'user', content: 'Go on.' }],
      max_completion_tokens: 5,
    });
    expect(lastMessagesBody().max_tokens).toBe(5);
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(5);
  });

  it('streaming with include_usage: events become chunks; the ledger equals message_start + message_delta usage', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        {
          model: SONNET,
          messages: [
            { role: 'system', content: 'Answer in one line.' },
            { role: 'user', content: 'Stream me a short answer about tollgates.' },
          ],
          stream: true,
          stream_options: { include_usage: true },
        },
        { headers: { 'x-mock-cached-tokens': '3' } },
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
    expect(lastMessagesBody()).toMatchObject({ stream: true, system: 'Answer in one line.' });
    expect(lastMessagesBody()).not.toHaveProperty('stream_options');
    expect(text).toBe(mockContent(24));
    expect(finish).toBe('stop');
    expect(model).toBe(SONNET);
    const prompt = tokens('Answer in one line.') + tokens('Stream me a short answer about tollgates.');
    expect(usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: 24,
      prompt_tokens_details: { cached_tokens: 3 },
    });
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      stream: true,
      usageSource: 'provider',
      inputTokens: prompt - 3,
      cacheReadTokens: 3,
      outputTokens: 24,
    });
    expect(row.cost).toBe(sonnetNanos({ input: prompt - 3, cacheRead: 3, output: 24 }));
  });

  it('streaming without include_usage: no usage chunk for the client, still settled on Anthropic usage', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: SONNET,
        messages: [{ role: 'user', content: 'hello' }],
        stream: true,
      })
      .withResponse();
    let sawUsage = false;
    for await (const chunk of stream) if (chunk.usage) sawUsage = true;
    expect(sawUsage).toBe(false);
    const row = await finalRow(callId(response));
    expect(row.usageSource).toBe('provider');
    expect(row.cost).toBe(sonnetNanos({ input: tokens('hello'), output: 24 }));
  });

  const chatWeatherTool = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  it('tools: function tools become input_schema tools, required → any; tool_use comes back as tool_calls', async () => {
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: SONNET,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [chatWeatherTool],
        tool_choice: 'required',
        parallel_tool_calls: false,
      })
      .withResponse();
    expect(lastMessagesBody()).toMatchObject({
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a city',
          input_schema: chatWeatherTool.function.parameters,
        },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    const choice = data.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.id).toMatch(/^toolu_/);
    expect(call.function).toEqual({ name: 'get_weather', arguments: JSON.stringify(weatherInput) });
    const prompt = anthropicInputTokens(lastMessagesBody());
    expect(data.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: weatherTokens });
    const row = await finalRow(callId(response));
    expect(row.cost).toBe(sonnetNanos({ input: prompt, output: weatherTokens }));
  });

  it('tools, streamed: the tool_use block arrives as tool_calls deltas (id and name, then the arguments)', async () => {
    const stream = await h.openai(secret).chat.completions.create({
      model: SONNET,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [
        chatWeatherTool,
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } },
      ],
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
    expect(lastMessagesBody().tool_choice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(id).toMatch(/^toolu_/);
    expect(name).toBe('get_weather');
    expect(args).toBe(JSON.stringify(weatherInput));
    expect(finish).toBe('tool_calls');
    expect(usage?.completion_tokens).toBe(weatherTokens);
  });

  it('a tool call round trip: assistant tool_calls → tool_use blocks, tool messages → one user turn of tool_result blocks', async () => {
    const client = h.openai(secret);
    const first = await client.chat.completions.create(
      {
        model: SONNET,
        messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
        tools: [chatWeatherTool],
      },
      { headers: { 'x-mock-tool-call': '1' } },
    );
    const call = first.choices[0]?.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error('expected a function call');
    const { data, response } = await client.chat.completions
      .create(
        {
          model: SONNET,
          messages: [
            { role: 'system', content: 'You are a weather bot.' },
            { role: 'user', content: 'Weather in Paris and Rome?' },
            {
              role: 'assistant',
              content: 'Checking both.',
              tool_calls: [
                call,
                {
                  id: 'toolu_second',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
                },
              ],
            },
            { role: 'tool', tool_call_id: call.id, content: 'Sunny, 24C' },
            { role: 'tool', tool_call_id: 'toolu_second', content: [{ type: 'text', text: 'Cloudy, 19C' }] },
          ],
          tools: [chatWeatherTool],
        },
        { headers: { 'x-mock-tool-call': '1' } },
      )
      .withResponse();
    const body = lastMessagesBody();
    expect(body).toEqual({
      model: SONNET,
      max_tokens: 64000,
      system: 'You are a weather bot.',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking both.' },
            { type: 'tool_use', id: call.id, name: 'get_weather', input: weatherInput },
            { type: 'tool_use', id: 'toolu_second', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: call.id, content: 'Sunny, 24C' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_second',
              content: [{ type: 'text', text: 'Cloudy, 19C' }],
            },
          ],
        },
      ],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a city',
          input_schema: chatWeatherTool.function.parameters,
        },
      ],
    });
    // The last turn carries tool results: the mock answers in text.
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.choices[0]?.message.content).toBe(mockContent(24));
    const row = await finalRow(callId(response));
    expect(row.inputTokens).toBe(anthropicInputTokens(body));
    expect(row.cost).toBe(sonnetNanos({ input: anthropicInputTokens(body), output: 24 }));
  });

  it('images: data URLs become base64 sources, http URLs url sources', async () => {
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: SONNET,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in these images?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}` } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            ],
          },
        ],
      })
      .withResponse();
    expect(lastMessagesBody().messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these images?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: pixel } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
    const prompt = tokens('What is in these images?') + 2 * MEDIA_TOKENS;
    expect(data.usage?.prompt_tokens).toBe(prompt);
    const row = await finalRow(callId(response));
    expect(row.reservedTokens - 64000).toBeGreaterThanOrEqual(prompt);
  });
});

describe('@anthropic-ai/sdk → an OpenAI model (translated to chat completions)', () => {
  it('JSON: system, messages and max_tokens become a chat body; the answer is an Anthropic Message', async () => {
    const { data, response } = await claude()
      .messages.create(
        {
          model: 'gpt-4.1',
          max_tokens: 50,
          system: 'You are terse.',
          stop_sequences: ['END'],
          temperature: 0.2,
          metadata: { user_id: 'u-42' },
          messages: [
            { role: 'user', content: 'Hi!' },
            { role: 'assistant', content: [{ type: 'text', text: 'Hello.' }] },
            { role: 'user', content: [{ type: 'text', text: 'Name a river.' }] },
          ],
        },
        { headers: { 'x-mock-cached-tokens': '4' } },
      )
      .withResponse();
    const sent = lastReceived();
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.body).toEqual({
      model: 'gpt-4.1',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi!' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Name a river.' },
      ],
      max_completion_tokens: 50,
      stop: ['END'],
      temperature: 0.2,
      user: 'u-42',
    });
    const prompt = mockPromptTokens(lastChatBody());
    expect(data).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'gpt-4.1',
      content: [{ type: 'text', text: mockContent(24) }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: prompt - 4,
        cache_read_input_tokens: 4,
        cache_creation_input_tokens: 0,
        output_tokens: 24,
      },
    });
    expect(data.id).toMatch(/^msg_/);
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      endpoint: '/v1/messages',
      provider: 'mock',
      usageSource: 'provider',
      inputTokens: prompt - 4,
      cacheReadTokens: 4,
      outputTokens: 24,
    });
    expect(row.cost).toBe(gptNanos({ input: prompt - 4, cacheRead: 4, output: 24 }));
  });

  it('streaming: chat chunks become message_start, text deltas, message_delta (real usage) and message_stop', async () => {
    const stream = claude().messages.stream({
      model: 'gpt-4.1',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'Stream, please.' }],
    });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const { response } = await stream.withResponse();
    const message = await stream.finalMessage();
    expect(types[0]).toBe('message_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(message.content).toMatchObject([{ type: 'text', text: mockContent(10) }]);
    expect(message.stop_reason).toBe('max_tokens');
    const prompt = mockPromptTokens(lastChatBody());
    expect(lastChatBody()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(message.usage).toMatchObject({ input_tokens: prompt, output_tokens: 10 });
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      stream: true,
      usageSource: 'provider',
      inputTokens: prompt,
      outputTokens: 10,
    });
    expect(row.cost).toBe(gptNanos({ input: prompt, output: 10 }));
  });

  it('tools: tool definitions, tool_choice and a tool_use / tool_result history become chat tools and messages', async () => {
    const { data, response } = await claude()
      .messages.create({
        model: 'gpt-4.1',
        max_tokens: 40,
        tools: [weatherTool],
        tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
        messages: [
          { role: 'user', content: 'Weather in Oslo?' },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Let me check.' },
              { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Oslo' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_01', content: 'Snow, -3C' },
              { type: 'text', text: 'And tomorrow?' },
            ],
          },
        ],
      })
      .withResponse();
    const body = lastChatBody();
    expect(body).toEqual({
      model: 'gpt-4.1',
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [
            {
              id: 'toolu_01',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_01', content: 'Snow, -3C' },
        { role: 'user', content: 'And tomorrow?' },
      ],
      max_completion_tokens: 40,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: weatherTool.input_schema,
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
    });
    expect(data.content).toEqual([{ type: 'text', text: mockContent(24) }]);
    const prompt = mockPromptTokens(body);
    expect(data.usage.input_tokens).toBe(prompt);
    const row = await finalRow(callId(response));
    expect(row.cost).toBe(gptNanos({ input: prompt, output: 24 }));
    // The Messages estimate (with its tool-use allowance) bounds the chat count too.
    expect(row.reservedTokens - 40).toBeGreaterThanOrEqual(prompt);
  });
});

describe('errors in Anthropic shape', () => {
  it('a budget denial: 429 rate_limit_error with x-budget-exceeded, a $0 denied row', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const err = await claude(k.secret)
      .messages.create({
        model: SONNET,
        max_tokens: 1000,
        messages: [{ role: 'user', content: 'write a lot' }],
      })
      .then(() => null)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    const e = err as InstanceType<typeof Anthropic.RateLimitError>;
    expect(e.status).toBe(429);
    expect(e.headers?.get('x-budget-exceeded')).toBe('support-strict');
    expect(e.headers?.get('x-tollgate-error-code')).toBe('budget_exceeded');
    expect(e.error).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.any(String) },
    });
    const row = await finalRow(e.headers?.get('x-tollgate-call-id') ?? '', k.id);
    expect(row).toMatchObject({ status: 'denied', denialPolicy: 'support-strict', cost: 0 });
  });

  it('bad key, unknown model, missing max_tokens: authentication_error, not_found_error, invalid_request_error', async () => {
    const wrong = await claude('tg-not-a-key')
      .messages.create({ model: SONNET, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((wrong as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });
    const unknown = await claude()
      .messages.create({ model: 'claude-0', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    const noMax = await claude()
      .messages.create({
        model: SONNET,
        messages: [{ role: 'user', content: 'hi' }],
      } as unknown as Parameters<Anthropic['messages']['create']>[0])
      .catch((e: unknown) => e);
    expect(noMax).toBeInstanceOf(Anthropic.BadRequestError);
    expect((noMax as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') },
    });
  });

  it("the provider's own error comes through with its message (a bad upstream key), $0", async () => {
    const err = await claude()
      .messages.create({
        model: 'claude-bad-key',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    const e = err as InstanceType<typeof Anthropic.APIError>;
    expect(e.status).toBe(502);
    expect(e.message).toContain('invalid x-api-key');
    const row = await finalRow(e.headers?.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({ status: 'upstream_error', cost: 0 });
  });

  it.each([
    ['429', false, 429, 'rate_limit_error'],
    ['529', false, 502, 'overloaded_error'],
    ['529', true, 502, 'overloaded_error'],
    ['500', true, 502, 'api_error'],
    ['bad-json', false, 502, 'api_error'],
  ])(
    'upstream fault %s (stream: %s) → HTTP %i %s, nothing spent or left in flight',
    async (fault, stream, status, type) => {
      const before = await budgetState();
      const err = await claude()
        .messages.create(
          { model: SONNET, max_tokens: 20, stream, messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-mock-fault': fault } },
        )
        .then(() => null)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.APIError);
      const e = err as InstanceType<typeof Anthropic.APIError>;
      expect(e.status).toBe(status);
      expect(e.error).toMatchObject({ type: 'error', error: { type } });
      const row = await finalRow(e.headers?.get('x-tollgate-call-id') ?? '');
      expect(row).toMatchObject({ status: 'upstream_error', cost: 0 });
      const after = await budgetState();
      expect(after.spent.nanos).toBe(before.spent.nanos);
      expect(after.reserved.nanos).toBe(0);
    },
  );
});

describe('Anthropic streams that end badly are still billed, never $0', () => {
  const messages = [{ role: 'user' as const, content: 'Tell me a long story.' }];

  it('a client that abandons the stream after 3 events: billed on counted tokens', async () => {
    const abortedBefore = upstream.stats.aborted;
    const { data: stream, response } = await claude()
      .messages.create(
        { model: SONNET, max_tokens: 500, stream: true, messages },
        { headers: { 'x-mock-output-tokens': '200', 'x-mock-inter-chunk-ms': '5' } },
      )
      .withResponse();
    let n = 0;
    for await (const _event of stream) {
      if (++n === 3) break;
    }
    const row = await finalRow(callId(response));
    expect(row.status).toBe('client_aborted');
    expect(row.usageSource).toBe('estimated');
    expect(row.outputTokens).toBeGreaterThanOrEqual(1);
    expect(row.outputTokens).toBeLessThan(200);
    expect(row.inputTokens).toBeGreaterThanOrEqual(tokens(messages[0]!.content));
    expect(row.cost).toBeGreaterThan(0);
    expect(row.cost).toBe(sonnetNanos({ input: row.inputTokens, output: row.outputTokens }));
    for (let i = 0; i < 50 && upstream.stats.aborted === abortedBefore; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(upstream.stats.aborted).toBeGreaterThan(abortedBefore);
    expect((await budgetState()).reserved.nanos).toBe(0);
  });

  it('an upstream that cuts the stream: the SDK gets an error event, the call is billed (estimated)', async () => {
    const { data: stream, response } = await claude()
      .messages.create(
        { model: SONNET, max_tokens: 500, stream: true, messages },
        { headers: { 'x-mock-fault': 'cut', 'x-mock-output-tokens': '200' } },
      )
      .withResponse();
    let text = '';
    const failure = await (async () => {
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
          text += event.delta.text;
      }
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Anthropic.APIError);
    expect((failure as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'api_error', message: expect.stringContaining('Provider anthropic failed') },
    });
    // 100 of the 200 word events arrived before the connection died.
    expect(text).toBe(mockContent(100));
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({ status: 'upstream_error', usageSource: 'estimated', outputTokens: 100 });
    expect(row.cost).toBe(sonnetNanos({ input: row.inputTokens, output: 100 }));
    expect((await budgetState()).reserved.nanos).toBe(0);
  });

  it('an `event: error` mid-stream (overloaded) reaches the SDK as an error; the call still settles', async () => {
    const { data: stream, response } = await claude()
      .messages.create(
        { model: SONNET, max_tokens: 500, stream: true, messages },
        { headers: { 'x-mock-fault': 'stream-error' } },
      )
      .withResponse();
    const failure = await (async () => {
      for await (const _event of stream);
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Anthropic.APIError);
    expect((failure as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'overloaded_error' },
    });
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({
      status: 'upstream_error',
      errorCode: 'upstream_error',
      usageSource: 'estimated',
      outputTokens: 12,
    });
    expect(row.cost).toBe(sonnetNanos({ input: row.inputTokens, output: 12 }));
    expect((await budgetState()).reserved.nanos).toBe(0);
  });

  it('translated: an `event: error` reaches the openai client as a stream error; a stream without usage is estimated', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: SONNET, messages, stream: true },
        { headers: { 'x-mock-fault': 'stream-error' } },
      )
      .withResponse();
    let text = '';
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain('Overloaded');
    expect(text).toBe(mockContent(12));
    const row = await finalRow(callId(response));
    expect(row).toMatchObject({ status: 'upstream_error', usageSource: 'estimated', outputTokens: 12 });
    expect(row.cost).toBeGreaterThan(0);

    const { data: quiet, response: quietResponse } = await h
      .openai(secret)
      .chat.completions.create(
        { model: SONNET, messages, stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-mock-fault': 'no-usage' } },
      )
      .withResponse();
    let finish: string | null = null;
    for await (const chunk of quiet) finish = chunk.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('stop');
    const quietRow = await finalRow(callId(quietResponse));
    expect(quietRow).toMatchObject({ status: 'ok', usageSource: 'estimated', outputTokens: 24 });
    expect(quietRow.cost).toBeGreaterThan(0);
  });
});

describe('1,000 concurrent Anthropic streams against a $1 team cap', () => {
  const CAP_NANOS = 1_000_000_000;
  let burstUpstream: MockServer;
  let b: Harness;

  beforeAll(async () => {
    // Every call generates its full max_tokens, so actual spend approaches the worst case.
    burstUpstream = await startMock({ outputTokens: 5000, latencyMs: 30 });
    b = await startHarness({
      config: gatewayConfig(burstUpstream.url, [
        {
          id: 'search-team-cap',
          match: { team: 'search' },
          limit: { usd: 1 },
          window: { kind: 'calendar', every: 'month', tz: 'UTC' },
        },
      ]),
    });
  });
  afterAll(async () => {
    await b.close();
    await burstUpstream.close();
  });

  it('settled spend never exceeds the cap, the rest get Anthropic 429s, counters equal the ledger', async () => {
    const k = await b.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const client = new Anthropic({
      baseURL: b.gateway.url,
      apiKey: k.secret,
      maxRetries: 0,
      timeout: 60_000,
    });
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        try {
          const stream = await client.messages.create({
            model: SONNET,
            max_tokens: 1000,
            stream: true,
            messages: [{ role: 'user', content: `burst call ${i}` }],
          });
          for await (const _event of stream) {
            // drain
          }
          return { ok: true as const };
        } catch (err) {
          const e = err as InstanceType<typeof Anthropic.APIError>;
          return {
            ok: false as const,
            status: e.status,
            type: (e.error as { error?: { type?: string } })?.error?.type,
            policy: e.headers?.get('x-budget-exceeded'),
          };
        }
      }),
    );
    const ok = results.filter((r) => r.ok).length;
    const denied = results.filter((r) => !r.ok);
    expect(ok).toBeGreaterThan(30);
    expect(denied.length).toBeGreaterThan(500);
    for (const d of denied)
      expect(d).toMatchObject({ status: 429, type: 'rate_limit_error', policy: 'search-team-cap' });

    await b.gateway.services.ledger.flush();
    const rows = await b.gateway.services.store.ledger.queryCalls({ team: 'search', limit: 10_000 });
    expect(rows.length).toBe(1000);
    const settled = rows.reduce((sum, r) => sum + r.cost, 0);
    expect(settled).toBeLessThanOrEqual(CAP_NANOS);
    expect(settled).toBeGreaterThan(CAP_NANOS * 0.9);
    expect(rows.filter((r) => r.status === 'ok').length).toBe(ok);
    // Late calls may be clamped to what the cap still affords; every finished stream settles on provider usage.
    const finished = rows.filter((r) => r.status === 'ok');
    expect(finished.every((r) => r.usageSource === 'provider' && r.outputTokens <= 1000)).toBe(true);
    const status = await b.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
      'GET',
      '/admin/v1/budgets/search-team-cap',
    );
    expect(status.body.spent.nanos).toBe(settled);
    expect(status.body.reserved.nanos).toBe(0);
    expect(await b.gateway.services.budgets.counters.openReservations()).toBe(0);
  });
});
