import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { EncoderContext } from '../types.ts';
import { ResponsesEncoder } from './encoder.ts';
import { chatToResponse } from './response.ts';
import { responsesToChat } from './toChat.ts';

const ctx: EncoderContext = { model: 'claude-x', clientWantsUsage: true, estimatedInputTokens: 10 };
const usage = {
  inputTokens: 7,
  cacheReadTokens: 3,
  cacheWriteTokens: 2,
  outputTokens: 9,
  reasoningTokens: 4,
};

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  choices: [{ index: 0, delta, finish_reason: finish }],
});

/** The encoder's bytes, served as an SSE body to the official SDK's Responses stream accumulator. */
async function readWithSdk(sse: string) {
  const client = new OpenAI({
    apiKey: 'x',
    baseURL: 'http://sdk.invalid/v1',
    maxRetries: 0,
    fetch: async () => new Response(sse, { headers: { 'content-type': 'text/event-stream' } }),
  });
  const stream = client.responses.stream({ model: 'claude-x', input: 'hi' });
  const types: string[] = [];
  stream.on('event', (e) => types.push(e.type));
  const final = await stream.finalResponse();
  return { final, types };
}

describe('Responses → canonical chat', () => {
  it('maps instructions, messages, function calls and outputs, tools, tool_choice, caps and formats', () => {
    const chat = responsesToChat({
      model: 'm',
      instructions: 'Be terse.',
      input: [
        { role: 'developer', content: 'Use metric units.' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Weather?' },
            { type: 'input_image', image_url: 'https://x/a.png', detail: 'low' },
          ],
        },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Berlin"}' },
        { type: 'function_call', call_id: 'call_2', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"temp":21}' },
      ],
      tools: [
        { type: 'function', name: 'get_weather', parameters: { type: 'object' }, strict: true },
        { type: 'web_search' },
      ],
      tool_choice: { type: 'function', name: 'get_weather' },
      max_output_tokens: 300,
      temperature: 0.2,
      stream: true,
      text: { format: { type: 'json_schema', name: 'w', schema: { type: 'object' }, strict: true } },
      reasoning: { effort: 'low' },
    });
    expect(chat).toEqual({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'system', content: 'Use metric units.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather?' },
            { type: 'image_url', image_url: { url: 'https://x/a.png', detail: 'low' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Berlin"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
      temperature: 0.2,
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 300,
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' }, strict: true } },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'w', schema: { type: 'object' }, strict: true },
      },
      reasoning_effort: 'low',
    });
  });

  it('a plain string input is one user message', () => {
    expect(responsesToChat({ model: 'm', input: 'hi' })).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
    });
  });
});

describe('canonical chat → Responses', () => {
  it('a chat.completion becomes a response object with reasoning, text, function calls and usage', () => {
    const response = chatToResponse(
      {
        id: 'chatcmpl-9',
        created: 1,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Sure.',
              reasoning_content: 'thinking',
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
      },
      usage,
      'claude-x',
    );
    expect(response).toMatchObject({
      id: 'resp_chatcmpl-9',
      object: 'response',
      status: 'completed',
      model: 'claude-x',
      output: [
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'thinking' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Sure.' }] },
        { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
      ],
      usage: {
        input_tokens: 12,
        input_tokens_details: { cached_tokens: 3, cache_write_tokens: 2 },
        output_tokens: 9,
        output_tokens_details: { reasoning_tokens: 4 },
        total_tokens: 21,
      },
    });
  });

  it('finish_reason length → status incomplete (max_output_tokens)', () => {
    const response = chatToResponse(
      { choices: [{ message: { content: 'cut' }, finish_reason: 'length' }] },
      null,
      'm',
    );
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      usage: null,
    });
  });
});

describe('ResponsesEncoder: canonical chunks → typed events the official SDK accumulates', () => {
  it('reasoning, text and two parallel tool calls', async () => {
    const encoder = new ResponsesEncoder(ctx);
    let sse = '';
    sse += encoder.encode(chunk({ role: 'assistant', content: '' }));
    sse += encoder.encode(chunk({ reasoning_content: 'Let me ' }));
    sse += encoder.encode(chunk({ reasoning_content: 'think.' }));
    sse += encoder.encode(chunk({ content: 'Hello' }));
    sse += encoder.encode(chunk({ content: ' world' }));
    sse += encoder.encode(
      chunk({
        tool_calls: [
          { index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '{"a"' } },
        ],
      }),
    );
    sse += encoder.encode(
      chunk({
        tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } }],
      }),
    );
    sse += encoder.encode(chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }));
    sse += encoder.encode(chunk({}, 'tool_calls'));
    sse += encoder.finish(usage);

    const { final, types } = await readWithSdk(sse);
    expect(types.slice(0, 2)).toEqual(['response.created', 'response.in_progress']);
    expect(types.at(-1)).toBe('response.completed');
    expect(final.status).toBe('completed');
    expect(final.model).toBe('claude-x');
    expect(final.output_text).toBe('Hello world');
    expect(final.output).toMatchObject([
      { type: 'reasoning', summary: [{ type: 'summary_text', text: 'Let me think.' }] },
      { type: 'message', content: [{ type: 'output_text', text: 'Hello world' }] },
      { type: 'function_call', call_id: 'call_a', name: 'f', arguments: '{"a":1}' },
      { type: 'function_call', call_id: 'call_b', name: 'g', arguments: '{}' },
    ]);
    expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 9 });
    // sequence_number counts up from 0 without gaps.
    const sequences = [...sse.matchAll(/"sequence_number":(\d+)/g)].map((m) => Number(m[1]));
    expect(sequences).toEqual(sequences.map((_, i) => i));
  });

  it('a stream with no chunks at all still opens and completes; length → response.incomplete', async () => {
    const empty = new ResponsesEncoder(ctx);
    expect((await readWithSdk(empty.finish(null))).final.status).toBe('completed');
    const cut = new ResponsesEncoder(ctx);
    const sse = cut.encode(chunk({ content: 'a b' })) + cut.encode(chunk({}, 'length')) + cut.finish(usage);
    const { final, types } = await readWithSdk(sse);
    expect(types.at(-1)).toBe('response.incomplete');
    expect(final.status).toBe('incomplete');
    expect(final.output_text).toBe('a b');
  });
});
