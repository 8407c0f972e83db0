import { describe, expect, it } from 'vitest';
import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import { bedrockAdapter } from '../bedrock/index.ts';
import { anthropicAdapter } from './index.ts';
import { TOOL_USE_SYSTEM_PROMPT } from './inputBound.ts';
import { messagesBodyFromChat } from './messagesBody.ts';
import { messagesUrl } from './request.ts';
import { completionFromMessage } from './response.ts';
import { AnthropicChatDecoder, AnthropicStreamMeter } from './stream.ts';
import { usageFromAnthropic } from './usage.ts';

const provider = (base_url: string, api_key?: string) =>
  ({
    id: 'anthropic',
    kind: 'anthropic',
    base_url,
    api_key,
    headers: {},
    anthropic_version: '2023-06-01',
  }) as unknown as ProviderEntry;
const model = {
  id: 'claude',
  upstreamModel: 'claude-sonnet-4-20250514',
  maxOutputTokens: 64000,
} as ModelEntry;

const sse = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

/** A complete Messages stream: one text block and one tool_use block. */
const STREAM = [
  sse('message_start', {
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-20250514',
      content: [],
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 4,
        cache_read_input_tokens: 6,
        output_tokens: 1,
      },
    },
  }),
  sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  sse('ping', {}),
  sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Let me ' } }),
  sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'check.' } }),
  sse('content_block_stop', { index: 0 }),
  sse('content_block_start', {
    index: 1,
    content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
  }),
  sse('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '' } }),
  sse('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }),
  sse('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '"Oslo"}' } }),
  sse('content_block_stop', { index: 1 }),
  sse('message_delta', {
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 42 },
  }),
  sse('message_stop', {}),
].join('');

describe('OpenAI chat → Anthropic Messages request', () => {
  it('posts to /v1/messages with x-api-key and anthropic-version, never a Bearer token', async () => {
    expect(messagesUrl(provider('https://api.anthropic.com/'))).toBe('https://api.anthropic.com/v1/messages');
    expect(messagesUrl(provider('https://proxy.example/anthropic/v1'))).toBe(
      'https://proxy.example/anthropic/v1/messages',
    );
    expect(messagesUrl(provider('http://v1'))).toBe('http://v1/v1/messages');
    const req = await anthropicAdapter.canonical.request(
      provider('https://api.anthropic.com', 'sk-ant-secret'),
      model,
      { model: 'claude', messages: [{ role: 'user', content: 'hi' }] },
      { stream: false, clientWantsUsage: false },
    );
    expect(req.headers).toMatchObject({ 'x-api-key': 'sk-ant-secret', 'anthropic-version': '2023-06-01' });
    expect(req.headers.authorization).toBeUndefined();
    expect(JSON.parse(req.body)).toEqual({
      model: 'claude-sonnet-4-20250514',
      max_tokens: 64000,
      messages: [{ role: 'user', content: 'hi' }],
    });
  });

  it("raises the o200k input estimate for Claude's tokenizer and its tool-use system prompt", () => {
    const model = {
      id: 'claude',
      priceKey: 'claude',
      prices: undefined,
      provider: 'anthropic',
      upstreamModel: 'claude-sonnet-4-20250514',
      priceProvider: 'anthropic',
      maxOutputTokens: 8192,
      contextWindow: null,
    };
    const bound = (estimate: number, body: Record<string, unknown>) =>
      anthropicAdapter.boundInputTokens!(estimate, body, model);
    expect(bound(100, { messages: [] })).toBe(130);
    expect(bound(100, { tools: [{ name: 't' }] })).toBe(Math.ceil((100 + TOOL_USE_SYSTEM_PROMPT) * 1.3));
    expect(bound(100, { tools: [] })).toBe(130);
  });

  it('Bedrock raises the estimate the same way for Claude models only', () => {
    const model = (upstreamModel: string) => ({
      id: 'm',
      priceKey: 'm',
      prices: undefined,
      provider: 'aws',
      upstreamModel,
      priceProvider: 'aws',
      maxOutputTokens: 8192,
      contextWindow: null,
    });
    const bound = bedrockAdapter.boundInputTokens!;
    expect(bound(100, {}, model('anthropic.claude-3-5-sonnet-20241022-v2:0'))).toBe(130);
    expect(bound(100, {}, model('us.anthropic.claude-sonnet-4-20250514-v1:0'))).toBe(130);
    expect(bound(100, {}, model('meta.llama3-70b-instruct-v1:0'))).toBe(100);
    expect(bound(100, {}, model('amazon.nova-pro-v1:0'))).toBe(100);
  });

  it('native pass-through changes only the model name', async () => {
    const body = { model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], top_k: 3 };
    const req = await anthropicAdapter.request(
      'anthropic-messages',
      provider('https://a.example'),
      model,
      body,
      {
        stream: true,
        clientWantsUsage: true,
      },
    );
    expect(JSON.parse(req.body)).toEqual({ ...body, model: 'claude-sonnet-4-20250514' });
    expect(req.headers.accept).toBe('text/event-stream');
  });

  it('maps system and developer text, merges turns, puts tool results first, skips blank text', () => {
    const body = messagesBodyFromChat(
      model,
      {
        model: 'claude',
        messages: [
          { role: 'system', content: 'Be terse.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use metric units.' }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Weather?' },
              { type: 'text', text: '  ' },
            ],
          },
          { role: 'user', content: 'In Oslo.' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              {
                id: 'toolu_a',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
              { id: 'toolu_b', type: 'function', function: { name: 'get_weather', arguments: 'not json' } },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_a', content: 'Snow' },
          { role: 'user', content: 'Thanks; and this?' },
          { role: 'tool', tool_call_id: 'toolu_b', content: 'Rain' },
        ],
        max_tokens: 50,
        stop: 'END',
        user: 'u-1',
        tools: [{ type: 'function', function: { name: 'get_weather' } }],
        tool_choice: 'auto',
        parallel_tool_calls: false,
        n: 2,
        presence_penalty: 1,
      },
      false,
    );
    expect(body).toEqual({
      model: 'claude-sonnet-4-20250514',
      max_tokens: 50,
      system: [
        { type: 'text', text: 'Be terse.' },
        { type: 'text', text: 'Use metric units.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather?' },
            { type: 'text', text: 'In Oslo.' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Oslo' } },
            { type: 'tool_use', id: 'toolu_b', name: 'get_weather', input: { arguments: 'not json' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_a', content: 'Snow' },
            { type: 'tool_result', tool_use_id: 'toolu_b', content: 'Rain' },
            { type: 'text', text: 'Thanks; and this?' },
          ],
        },
      ],
      stop_sequences: ['END'],
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      metadata: { user_id: 'u-1' },
    });
  });

  it('images and PDFs: data URLs as base64 sources, other URLs as url sources; unknown parts go as they are', () => {
    const body = messagesBodyFromChat(
      model,
      {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'data:image/JPEG;base64,AAAA' } },
              { type: 'image_url', image_url: 'https://x.example/a.png' },
              { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' } },
              { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
            ],
          },
        ],
      },
      true,
    );
    expect(body.stream).toBe(true);
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } },
          { type: 'image', source: { type: 'url', url: 'https://x.example/a.png' } },
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' },
            title: 'a.pdf',
          },
          { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
        ],
      },
    ]);
  });

  it('never throws on odd shapes', () => {
    expect(() =>
      messagesBodyFromChat(
        model,
        { messages: [null, 3, { role: 'assistant', tool_calls: [null, {}] }] },
        false,
      ),
    ).not.toThrow();
    expect(messagesBodyFromChat(model, { messages: 'x' }, false).messages).toEqual([]);
  });
});

describe('Anthropic answers → canonical chat', () => {
  it('usage maps kind for kind (input excludes cache)', () => {
    expect(
      usageFromAnthropic({
        input_tokens: 10,
        cache_creation_input_tokens: 4,
        cache_read_input_tokens: 6,
        output_tokens: 7,
      }),
    ).toEqual({
      inputTokens: 10,
      cacheWriteTokens: 4,
      cacheReadTokens: 6,
      outputTokens: 7,
      reasoningTokens: 0,
    });
    expect(usageFromAnthropic({})).toBeNull();
    expect(usageFromAnthropic('x')).toBeNull();
  });

  it('a Message becomes a chat.completion with tool_calls, reasoning and OpenAI usage', () => {
    const { completion, usage } = completionFromMessage({
      id: 'msg_1',
      content: [
        { type: 'thinking', thinking: 'Hmm.', signature: 'sig' },
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
      ],
      stop_reason: 'tool_use',
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 4,
        cache_read_input_tokens: 6,
        output_tokens: 7,
      },
    });
    expect(usage).toMatchObject({
      inputTokens: 10,
      cacheWriteTokens: 4,
      cacheReadTokens: 6,
      outputTokens: 7,
    });
    expect(completion).toMatchObject({
      id: 'msg_1',
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'Checking.',
            reasoning_content: 'Hmm.',
            tool_calls: [
              {
                id: 'toolu_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
            ],
          },
        },
      ],
      usage: {
        prompt_tokens: 20,
        completion_tokens: 7,
        total_tokens: 27,
        prompt_tokens_details: { cached_tokens: 6 },
      },
    });
    for (const [reason, finish] of [
      ['end_turn', 'stop'],
      ['stop_sequence', 'stop'],
      ['max_tokens', 'length'],
      ['refusal', 'content_filter'],
    ]) {
      const { completion: c } = completionFromMessage({ content: [], stop_reason: reason });
      expect((c.choices as { finish_reason: string }[])[0]?.finish_reason).toBe(finish);
    }
    expect(() => completionFromMessage('garbage')).not.toThrow();
    expect(completionFromMessage(null).usage).toBeNull();
  });

  it('the stream decoder turns events into chunks, byte by byte, with usage from both halves', () => {
    const decoder = new AnthropicChatDecoder();
    const chunks = [];
    const bytes = Buffer.from(STREAM);
    for (let i = 0; i < bytes.length; i += 7) chunks.push(...decoder.push(bytes.subarray(i, i + 7)));
    chunks.push(...decoder.end());
    const deltas = chunks.map((c) => (c.choices as { delta: Record<string, unknown> }[])[0]?.delta);
    expect(deltas).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Let me ' },
      { content: 'check.' },
      {
        tool_calls: [
          { index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] },
      {},
    ]);
    expect((chunks.at(-1)!.choices as { finish_reason: string }[])[0]?.finish_reason).toBe('tool_calls');
    expect(chunks[0]).toMatchObject({ id: 'msg_1', object: 'chat.completion.chunk' });
    expect(decoder.completed()).toBe(true);
    expect(decoder.streamError()).toBeNull();
    expect(decoder.usage()).toEqual({
      inputTokens: 10,
      cacheWriteTokens: 4,
      cacheReadTokens: 6,
      outputTokens: 42,
      reasoningTokens: 0,
    });
  });

  it('the meter passes bytes through unchanged and meters the same usage', () => {
    const meter = new AnthropicStreamMeter();
    const out: Buffer[] = [];
    const bytes = Buffer.from(STREAM);
    for (let i = 0; i < bytes.length; i += 5) {
      const b = meter.push(bytes.subarray(i, i + 5));
      if (b) out.push(b);
    }
    const rest = meter.end();
    if (rest) out.push(rest);
    expect(Buffer.concat(out).toString()).toBe(STREAM);
    expect(meter.completed()).toBe(true);
    expect(meter.usage()).toMatchObject({ inputTokens: 10, outputTokens: 42 });
  });

  it('a stream cut before message_delta has no usage but counts what it generated', () => {
    const cut = STREAM.slice(0, STREAM.indexOf('event: message_delta'));
    for (const reader of [new AnthropicStreamMeter(), new AnthropicChatDecoder()]) {
      reader.push(Buffer.from(cut));
      reader.end();
      expect(reader.usage()).toBeNull();
      expect(reader.completed()).toBe(false);
      expect(reader.generatedText()).toBe('Let me check.get_weather{"city":"Oslo"}');
    }
  });

  it('garbage and error events set streamError instead of throwing; the decoder stops decoding', () => {
    const decoder = new AnthropicChatDecoder();
    const garbage = `${STREAM.slice(0, STREAM.indexOf('event: content_block_stop'))}event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":\n\n${sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'more' } })}`;
    const chunks = decoder.push(Buffer.from(garbage));
    expect(decoder.streamError()).toContain('not valid JSON');
    expect(chunks.some((c) => JSON.stringify(c).includes('more'))).toBe(false);

    const meter = new AnthropicStreamMeter();
    meter.push(Buffer.from(garbage));
    expect(meter.streamError()).toContain('not valid JSON');

    const overloaded = new AnthropicStreamMeter();
    overloaded.push(
      Buffer.from(
        STREAM.slice(0, STREAM.indexOf('event: content_block_stop')) +
          sse('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      ),
    );
    expect(overloaded.streamError()).toBe('overloaded_error: Overloaded');
    expect(overloaded.generatedText()).toBe('Let me check.');

    for (const junk of [
      '\u0000\u0001',
      'data: [DONE]\n\n',
      'event: message_start\ndata: null\n\n',
      'data: {}\n\n',
    ]) {
      const d = new AnthropicChatDecoder();
      expect(() => [...d.push(Buffer.from(junk)), ...d.end()]).not.toThrow();
    }
  });
});
