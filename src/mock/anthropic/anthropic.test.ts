import Anthropic from '@anthropic-ai/sdk';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicStreamMeter } from '../../providers/anthropic/stream.ts';
import type { MockServer } from '../index.ts';
import { mockContent, startMock } from '../index.ts';
import { MOCK_ANTHROPIC_API_KEY } from './index.ts';

let mock: MockServer;
let client: Anthropic;

beforeAll(async () => {
  mock = await startMock({ outputTokens: 6 });
  client = new Anthropic({ baseURL: mock.url, apiKey: MOCK_ANTHROPIC_API_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await mock.close();
});

const hi = {
  model: 'claude-sonnet-4-20250514',
  max_tokens: 100,
  messages: [{ role: 'user' as const, content: 'hi' }],
};

async function raw(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${mock.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': MOCK_ANTHROPIC_API_KEY,
      'anthropic-version': '2023-06-01',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('mock Anthropic Messages API', () => {
  it('needs x-api-key and anthropic-version; answers errors in Anthropic shape', async () => {
    const missing = await raw(hi, { 'x-api-key': '' });
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.text)).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', message: 'x-api-key header is required' },
      request_id: expect.stringMatching(/^req_/),
    });
    expect(missing.headers.get('request-id')).toMatch(/^req_/);
    const wrong = await raw(hi, { 'x-api-key': 'sk-ant-wrong' });
    expect(JSON.parse(wrong.text).error).toEqual({
      type: 'authentication_error',
      message: 'invalid x-api-key',
    });
    const res = await fetch(`${mock.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': MOCK_ANTHROPIC_API_KEY },
      body: JSON.stringify(hi),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      'anthropic-version',
    );
  });

  it('answers a Message with usage by kind; cache headers come out of the prompt', async () => {
    const m = await client.messages.create(
      { ...hi, system: 'Be brief.' },
      { headers: { 'x-mock-cached-tokens': '1', 'x-mock-cache-write-tokens': '2' } },
    );
    const prompt = countTokens('Be brief.') + countTokens('hi');
    expect(m).toMatchObject({
      id: expect.stringMatching(/^msg_/),
      type: 'message',
      role: 'assistant',
      model: hi.model,
      content: [{ type: 'text', text: mockContent(6) }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: prompt - 3,
        cache_read_input_tokens: 1,
        cache_creation_input_tokens: 2,
        output_tokens: 6,
      },
    });
  });

  it('max_tokens, stop sequences and thinking shape the answer', async () => {
    const short = await client.messages.create({ ...hi, max_tokens: 2 });
    expect(short).toMatchObject({ stop_reason: 'max_tokens', usage: { output_tokens: 2 } });
    const stopped = await client.messages.create({ ...hi, stop_sequences: ['fox'] });
    expect(stopped).toMatchObject({
      content: [{ type: 'text', text: ' the quick brown' }],
      stop_reason: 'stop_sequence',
      stop_sequence: 'fox',
      usage: { output_tokens: 3 },
    });
    const thought = await client.messages.create(
      { ...hi, max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 } },
      { headers: { 'x-mock-reasoning-tokens': '4' } },
    );
    expect(thought.content).toMatchObject([
      { type: 'thinking', thinking: mockContent(4) },
      { type: 'text', text: mockContent(6) },
    ]);
    expect(thought.usage.output_tokens).toBe(10);
    const streamed = await client.messages
      .stream(
        { ...hi, max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 } },
        {
          headers: { 'x-mock-reasoning-tokens': '4' },
        },
      )
      .finalMessage();
    expect(streamed.content).toMatchObject(thought.content);
  });

  it('refuses what Anthropic refuses', async () => {
    const cases: [unknown, string][] = [
      [{ ...hi, max_tokens: undefined }, 'max_tokens: Field required'],
      [{ ...hi, stream_options: { include_usage: true } }, 'stream_options: Extra inputs are not permitted'],
      [{ ...hi, messages: [] }, 'at least one message is required'],
      [{ ...hi, messages: [{ role: 'system', content: 'x' }] }, "Input should be 'user' or 'assistant'"],
      [{ ...hi, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }, 'must be non-empty'],
      [{ ...hi, temperature: 1.5 }, 'temperature: Input should be less than or equal to 1'],
      [{ ...hi, tool_choice: { type: 'auto' } }, 'tool_choice may only be specified while providing tools'],
      [{ ...hi, tools: [{ name: 'f' }] }, 'input_schema: Field required'],
      [
        {
          ...hi,
          messages: [
            { role: 'user', content: 'x' },
            { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] },
            { role: 'user', content: 'y' },
          ],
        },
        '`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1',
      ],
      [
        { ...hi, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9' }] }] },
        'unexpected `tool_use_id` found in `tool_result` blocks: toolu_9',
      ],
      [
        {
          ...hi,
          messages: [
            {
              role: 'user',
              content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'AA==' } }],
            },
          ],
        },
        "media_type: Input should be 'image/jpeg'",
      ],
      ['{not json', 'parsing the body'],
    ];
    for (const [body, message] of cases) {
      const res = await raw(body);
      expect(res.status, message).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
      expect(JSON.parse(res.text).error.message).toContain(message);
    }
    const unknown = await raw({ ...hi, model: 'gpt-4o' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).error).toEqual({ type: 'not_found_error', message: 'model: gpt-4o' });
  });

  it('streams the SSE event sequence; no-usage drops message_delta usage; bad-json breaks an event', async () => {
    const ok = await raw({ ...hi, stream: true });
    expect(ok.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect([...ok.text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array(6).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const meter = new AnthropicStreamMeter();
    meter.push(Buffer.from(ok.text));
    meter.end();
    expect(meter.usage()).toMatchObject({ inputTokens: 1, outputTokens: 6 });

    const quiet = await raw({ ...hi, stream: true }, { 'x-mock-fault': 'no-usage' });
    expect(quiet.text).toContain('"stop_reason":"end_turn"');
    const noUsage = new AnthropicStreamMeter();
    noUsage.push(Buffer.from(quiet.text));
    noUsage.end();
    expect(noUsage.completed()).toBe(true);
    expect(noUsage.usage()).toBeNull();

    const broken = await raw({ ...hi, stream: true }, { 'x-mock-fault': 'bad-json' });
    const brokenMeter = new AnthropicStreamMeter();
    brokenMeter.push(Buffer.from(broken.text));
    expect(brokenMeter.streamError()).toContain('not valid JSON');
  });

  it('status faults: 429 with retry-after, 500 api_error, 529 overloaded', async () => {
    const limited = await raw(hi, { 'x-mock-fault': '429' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(limited.text).error.type).toBe('rate_limit_error');
    expect(JSON.parse((await raw(hi, { 'x-mock-fault': '500' })).text).error.type).toBe('api_error');
    const overloaded = await raw(hi, { 'x-mock-fault': '529' });
    expect(overloaded.status).toBe(529);
    expect(JSON.parse(overloaded.text).error).toEqual({ type: 'overloaded_error', message: 'Overloaded' });
  });
});
