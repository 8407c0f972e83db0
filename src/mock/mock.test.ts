import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockServer, mockContent, mockPromptTokens, SINGLE_TOKEN_WORDS, startMock } from './index.ts';

let mock: MockServer;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMock({ recordRequests: 5 });
  client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
afterAll(async () => {
  await mock.close();
});

const hello: ChatCompletionCreateParamsNonStreaming = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello to the world.' },
  ],
};

describe('generated text', () => {
  it('uses words that are one o200k token each and safe to paste into JSON', () => {
    for (const word of SINGLE_TOKEN_WORDS) {
      expect(countTokens(word), word).toBe(1);
      expect(word).toMatch(/^ [a-z]+$/);
    }
  });
  it('tokenizes to exactly the requested length', () => {
    for (const n of [0, 1, 7, 16, SINGLE_TOKEN_WORDS.length + 3, 1000])
      expect(countTokens(mockContent(n))).toBe(n);
  });
});

describe('mockPromptTokens', () => {
  it('is text tokens + 3 per message + 3', () => {
    expect(mockPromptTokens({ model: 'm', messages: [{ role: 'user', content: 'hello' }] })).toBe(
      countTokens('hello') + 3 + 3,
    );
  });
  it('counts text parts, 85 per image, tool calls, names and tools', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const body = {
      model: 'm',
      tools,
      messages: [
        {
          role: 'user',
          name: 'alice',
          content: [
            { type: 'text', text: 'What is in this image?' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny <|endoftext|>' },
      ],
    };
    const expected =
      countTokens('What is in this image?') +
      85 +
      countTokens('alice') +
      countTokens('get_weather') +
      countTokens('{"city":"Paris"}') +
      countTokens('sunny <|endoftext|>', { disallowedSpecial: new Set() }) +
      3 * 3 +
      3 +
      countTokens(JSON.stringify(tools));
    expect(mockPromptTokens(body)).toBe(expected);
  });
});

describe('chat completions', () => {
  it('answers like OpenAI, with usage = prompt tokens + N', async () => {
    const { data, response } = await client.chat.completions.create(hello).withResponse();
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(response.headers.get('openai-processing-ms')).toMatch(/^\d+$/);
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('gpt-4o-mini');
    expect(data.system_fingerprint).toMatch(/^fp_/);
    const choice = data.choices[0]!;
    expect(choice.finish_reason).toBe('stop');
    expect(choice.message.role).toBe('assistant');
    expect(choice.message.refusal).toBeNull();
    expect(countTokens(choice.message.content ?? '')).toBe(16);
    const prompt = mockPromptTokens(hello);
    expect(data.usage).toEqual({
      prompt_tokens: prompt,
      completion_tokens: 16,
      total_tokens: prompt + 16,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
    const last = mock.received.at(-1)!;
    expect(last.path).toBe('/v1/chat/completions');
    expect(last.body).toMatchObject({ model: 'gpt-4o-mini' });
  });

  it('streams N single-token chunks, then finish, usage and [DONE]', async () => {
    const before = { ...mock.stats };
    const stream = await client.chat.completions.create({
      ...hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    for (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? '';
    expect(countTokens(text)).toBe(16);
    expect(chunks[0]!.choices[0]!.delta).toMatchObject({ role: 'assistant', content: '' });
    expect(chunks).toHaveLength(1 + 16 + 1 + 1);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage?.prompt_tokens).toBe(mockPromptTokens(hello));
    expect(usageChunk.usage?.completion_tokens).toBe(16);
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
    expect(mock.stats.streamsStarted - before.streamsStarted).toBe(1);
    expect(mock.stats.streamsCompleted - before.streamsCompleted).toBe(1);
  });

  it('omits usage from chunks when not asked for', async () => {
    const stream = await client.chat.completions.create({ ...hello, stream: true });
    for await (const chunk of stream) expect(chunk).not.toHaveProperty('usage');
  });

  it('caps at max_tokens / max_completion_tokens with finish_reason length', async () => {
    const capped = await client.chat.completions.create({ ...hello, max_tokens: 5 });
    expect(capped.choices[0]!.finish_reason).toBe('length');
    expect(countTokens(capped.choices[0]!.message.content ?? '')).toBe(5);
    expect(capped.usage?.completion_tokens).toBe(5);
    const roomy = await client.chat.completions.create({ ...hello, max_completion_tokens: 100 });
    expect(roomy.choices[0]!.finish_reason).toBe('stop');
    expect(roomy.usage?.completion_tokens).toBe(16);
  });

  it('takes output, cached and reasoning tokens from headers, and n choices', async () => {
    const headers = {
      'x-mock-output-tokens': '9',
      'x-mock-cached-tokens': '4',
      'x-mock-reasoning-tokens': '20',
    };
    const data = await client.chat.completions.create({ ...hello, n: 2 }, { headers });
    expect(data.choices).toHaveLength(2);
    for (const choice of data.choices) expect(countTokens(choice.message.content ?? '')).toBe(9);
    expect(data.usage?.completion_tokens).toBe(2 * 9 + 20);
    expect(data.usage?.completion_tokens_details?.reasoning_tokens).toBe(20);
    expect(data.usage?.prompt_tokens_details?.cached_tokens).toBe(4);
    // Reasoning spends the cap first, as OpenAI's max_completion_tokens does.
    const capped = await client.chat.completions.create({ ...hello, max_completion_tokens: 25 }, { headers });
    expect(capped.usage?.completion_tokens).toBe(25);
    expect(countTokens(capped.choices[0]!.message.content ?? '')).toBe(5);
    expect(capped.choices[0]!.finish_reason).toBe('length');
  });

  it('honours ttft and inter-chunk delays', async () => {
    const started = performance.now();
    const stream = await client.chat.completions.create(
      { ...hello, stream: true },
      { headers: { 'x-mock-ttft-ms': '40', 'x-mock-inter-chunk-ms': '5', 'x-mock-output-tokens': '4' } },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(countTokens(text)).toBe(4);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('rejects malformed JSON and missing fields with OpenAI errors', async () => {
    const post = (body: string) =>
      fetch(`${mock.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const malformed = await post('{"model":');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({
      error: { type: 'invalid_request_error', param: null, code: null },
    });
    expect((await post('{"messages":[{"role":"user","content":"hi"}]}')).status).toBe(400);
    expect((await post('{"model":"gpt-4o"}')).status).toBe(400);
    const unknown = await fetch(`${mock.url}/v1/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { message: 'Invalid URL (GET /v1/nope)' } });
  });
});

describe('faults', () => {
  const faulty = (fault: string) => ({ headers: { 'x-mock-fault': fault } });

  it('429 with retry-after, 500 and 503 reach the client as API errors', async () => {
    const limited = await client.chat.completions.create(hello, faulty('429')).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('1');
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('rate_limit_exceeded');
    await expect(client.chat.completions.create(hello, faulty('500'))).rejects.toBeInstanceOf(
      OpenAI.InternalServerError,
    );
    await expect(client.chat.completions.create(hello, faulty('503'))).rejects.toMatchObject({ status: 503 });
  });

  it('timeout never answers, and the client leaving counts as aborted', async () => {
    const before = mock.stats.aborted;
    await expect(
      client.chat.completions.create(hello, { ...faulty('timeout'), timeout: 150 }),
    ).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await expect.poll(() => mock.stats.aborted).toBe(before + 1);
  });

  it('cut breaks a stream before [DONE] and a JSON body mid-way', async () => {
    const before = mock.stats.aborted;
    const stream = await client.chat.completions.create(
      { ...hello, stream: true, stream_options: { include_usage: true } },
      faulty('cut'),
    );
    let text = '';
    const consume = async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    };
    await expect(consume()).rejects.toThrow();
    expect(countTokens(text)).toBe(8);
    await expect(client.chat.completions.create(hello, faulty('cut'))).rejects.toThrow();
    expect(mock.stats.aborted).toBe(before);
  });

  it('no-usage streams without a usage chunk', async () => {
    const stream = await client.chat.completions.create(
      { ...hello, stream: true, stream_options: { include_usage: true } },
      faulty('no-usage'),
    );
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('bad-json sends unparsable bodies and SSE lines', async () => {
    await expect(client.chat.completions.create(hello, faulty('bad-json'))).rejects.toThrow();
    const stream = await client.chat.completions.create({ ...hello, stream: true }, faulty('bad-json'));
    const consume = async () => {
      for await (const _ of stream);
    };
    await expect(consume()).rejects.toThrow();
  });

  it('counts a client that leaves mid-stream as aborted and keeps serving', async () => {
    const before = mock.stats.aborted;
    const stream = await client.chat.completions.create(
      { ...hello, stream: true },
      { headers: { 'x-mock-inter-chunk-ms': '20' } },
    );
    // Leaving the loop early makes the client abort the request.
    for await (const _ of stream) break;
    await expect.poll(() => mock.stats.aborted).toBe(before + 1);
    expect((await client.chat.completions.create(hello)).choices).toHaveLength(1);
  });
});

describe('embeddings and models', () => {
  it('embeds strings deterministically, base64 (the client default) and float', async () => {
    const viaClient = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['a cat', 'a dog'],
    });
    expect(viaClient.data).toHaveLength(2);
    expect(viaClient.data[0]!.embedding).toHaveLength(8);
    expect(viaClient.usage).toEqual({
      prompt_tokens: countTokens('a cat') + countTokens('a dog'),
      total_tokens: countTokens('a cat') + countTokens('a dog'),
    });
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'a cat',
      dimensions: 16,
      encoding_format: 'float',
    });
    const vector = floats.data[0]!.embedding;
    expect(vector).toHaveLength(16);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    const again = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'a cat' });
    expect(again.data[0]!.embedding).toEqual(viaClient.data[0]!.embedding);
  });

  it('lists and retrieves models', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(
      expect.arrayContaining(['gpt-4.1', 'gpt-4.1-mini', 'gpt-4o', 'gpt-4o-mini', 'o4-mini']),
    );
    expect(await client.models.retrieve('gpt-4o')).toMatchObject({ id: 'gpt-4o', object: 'model' });
    await expect(client.models.retrieve('gpt-0')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('a mock with an api key', () => {
  it('rejects missing and wrong keys with 401 and serves the right one', async () => {
    const guarded = await startMock({ apiKey: 'sk-right-key' });
    try {
      const wrong = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'sk-wrong-key', maxRetries: 0 });
      await expect(wrong.chat.completions.create(hello)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      expect((await fetch(`${guarded.url}/v1/models`)).status).toBe(401);
      const right = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'sk-right-key', maxRetries: 0 });
      expect((await right.chat.completions.create(hello)).choices).toHaveLength(1);
    } finally {
      await guarded.close();
    }
  });

  it('close() ends promptly with a request held open by timeout', async () => {
    const held = await startMock({ fault: 'timeout' });
    const pending = fetch(`${held.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(hello),
    }).catch((e: unknown) => e);
    await expect.poll(() => held.stats.requests).toBe(1);
    const started = performance.now();
    await held.close();
    expect(performance.now() - started).toBeLessThan(500);
    expect(await pending).toBeInstanceOf(Error);
  });
});
