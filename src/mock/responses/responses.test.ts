import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockServer, mockContent, mockResponsesInputTokens, startMock } from '../index.ts';

let mock: MockServer;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMock({ outputTokens: 8 });
  client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
afterAll(async () => mock.close());

describe('mock /v1/responses', () => {
  it('counts input as 3 + (3 + text) per instructions / input item + tools JSON', () => {
    const tools = [{ type: 'function', name: 'f', parameters: { type: 'object' } }];
    const body = {
      model: 'm',
      instructions: 'Be terse.',
      input: [
        { role: 'user', content: 'Hello' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'More' },
            { type: 'input_image', image_url: 'x' },
          ],
        },
        { type: 'function_call', call_id: 'c', name: 'f', arguments: '{"a":1}' },
        { type: 'function_call_output', call_id: 'c', output: '42' },
      ],
      tools,
    };
    const t = (s: string) => countTokens(s);
    expect(mockResponsesInputTokens(body)).toBe(
      3 +
        (3 + t('Be terse.')) +
        (3 + t('Hello')) +
        (3 + t('More') + 85) +
        (3 + t('f') + t('{"a":1}')) +
        (3 + t('42')) +
        t(JSON.stringify(tools)),
    );
  });

  it('answers a response object the official client parses', async () => {
    const r = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Hi' });
    expect(r).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4.1-mini' });
    expect(r.output_text).toBe(mockContent(8));
    expect(r.usage).toMatchObject({
      input_tokens: mockResponsesInputTokens({ input: 'Hi' }),
      output_tokens: 8,
    });
  });

  it('rejects max_output_tokens below 16 as OpenAI does', async () => {
    await expect(
      client.responses.create({ model: 'gpt-4.1-mini', input: 'Hi', max_output_tokens: 5 }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'integer_below_min_value',
    });
  });

  it('status faults come before any streaming', async () => {
    await expect(
      client.responses.create(
        { model: 'gpt-4.1-mini', input: 'Hi', stream: true },
        { headers: { 'x-mock-fault': '503' } },
      ),
    ).rejects.toMatchObject({ status: 503 });
  });
});
