import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { describe, expect, it } from 'vitest';
import { denial } from '../../errors.ts';
import {
  estimateMessagesInputTokens,
  setMessagesMaxTokens,
  validateMessagesBody,
} from '../anthropicMessages.ts';
import { AnthropicMessagesEncoder } from './encoder.ts';
import { anthropicErrorResponse, anthropicStreamError } from './errors.ts';
import { messageFromCompletion } from './fromChat.ts';
import { anthropicToChat } from './toChat.ts';

const ctx = { model: 'gpt-4.1', clientWantsUsage: true, estimatedInputTokens: 99 };
const usage = {
  inputTokens: 11,
  outputTokens: 7,
  cacheReadTokens: 3,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
};

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-abc123',
  object: 'chat.completion.chunk',
  model: 'gpt-4.1',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

/** The SDK's own accumulator over our events: what a client of `messages.stream()` ends up with. */
async function sdkFinalMessage(sse: string) {
  const lines = sse
    .split('\n\n')
    .map((event) =>
      event
        .split('\n')
        .find((l) => l.startsWith('data: '))
        ?.slice(6),
    )
    .filter((d): d is string => d !== undefined && !d.includes('"type":"ping"'))
    .map((d) => `${d}\n`);
  const body = new ReadableStream({
    start(controller) {
      for (const line of lines) controller.enqueue(new TextEncoder().encode(line));
      controller.close();
    },
  });
  return MessageStream.fromReadableStream(body).finalMessage();
}

describe('canonical chat → Anthropic answers', () => {
  it('streams text, reasoning and two tool calls as blocks the SDK accumulates into one Message', async () => {
    const encoder = new AnthropicMessagesEncoder(ctx);
    let out = '';
    for (const c of [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Think.' }),
      chunk({ content: 'Checking ' }),
      chunk({ content: 'both.' }),
      chunk({
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
      chunk({
        tool_calls: [
          {
            index: 1,
            id: 'call_2',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
          },
        ],
      }),
      chunk({}, 'tool_calls'),
      { id: 'x', object: 'chat.completion.chunk', choices: [], usage: {} },
    ]) {
      out += encoder.encode(c);
    }
    out += encoder.finish(usage);
    const types = [...out.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(types[0]).toBe('message_start');
    expect(types[1]).toBe('ping');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(out).toContain('"input_tokens":99');
    const message = await sdkFinalMessage(out);
    expect(message).toMatchObject({
      id: 'msg_abc123',
      model: 'gpt-4.1',
      stop_reason: 'tool_use',
      content: [
        { type: 'thinking', thinking: 'Think.' },
        { type: 'text', text: 'Checking both.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } },
        { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
      ],
      // message_delta carries the settled numbers, which replace message_start's estimate.
      usage: {
        input_tokens: 11,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 0,
        output_tokens: 7,
      },
    });
  });

  it('an empty stream still opens and closes the message', async () => {
    const encoder = new AnthropicMessagesEncoder(ctx);
    const message = await sdkFinalMessage(encoder.finish(null));
    expect(message).toMatchObject({ content: [], stop_reason: 'end_turn', usage: { output_tokens: 0 } });
  });

  it('a chat.completion becomes a Message (tool_calls as tool_use, finish reasons mapped)', () => {
    const message = messageFromCompletion(
      {
        id: 'chatcmpl-xyz',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
      },
      usage,
      ctx,
    );
    expect(message).toEqual({
      id: 'msg_xyz',
      type: 'message',
      role: 'assistant',
      model: 'gpt-4.1',
      content: [{ type: 'tool_use', id: 'call_9', name: 'f', input: { a: 1 } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 11,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 3,
        output_tokens: 7,
      },
    });
    const cut = messageFromCompletion(
      { choices: [{ message: { content: 'x' }, finish_reason: 'length' }] },
      null,
      ctx,
    );
    expect(cut.stop_reason).toBe('max_tokens');
    expect(cut.usage.output_tokens).toBe(0);
    expect(() => messageFromCompletion({ choices: 'nope' }, null, ctx)).not.toThrow();
  });
});

describe('Anthropic requests → canonical chat', () => {
  it('system blocks, images, documents, tool_use / tool_result (with an image) and choices', () => {
    const chat = anthropicToChat({
      model: 'gpt-4.1',
      max_tokens: 10,
      system: [
        { type: 'text', text: 'A.' },
        { type: 'text', text: 'B.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
            { type: 'image', source: { type: 'url', url: 'https://x.example/a.png' } },
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' },
              title: 'r.pdf',
            },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hidden', signature: 's' },
            { type: 'tool_use', id: 'toolu_1', name: 'shot', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              content: [
                { type: 'text', text: 'here' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'BBBB' } },
              ],
            },
          ],
        },
      ],
      tools: [
        { name: 'shot', input_schema: { type: 'object' } },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
      tool_choice: { type: 'any' },
      top_k: 5,
      thinking: { type: 'enabled', budget_tokens: 2000 },
    });
    expect(chat).toEqual({
      model: 'gpt-4.1',
      max_completion_tokens: 10,
      messages: [
        {
          role: 'system',
          content: [
            { type: 'text', text: 'A.' },
            { type: 'text', text: 'B.' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 'https://x.example/a.png' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'r.pdf' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'shot', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'here' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,BBBB' } }] },
      ],
      tools: [
        { type: 'function', function: { name: 'shot', parameters: { type: 'object' } } },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
      tool_choice: 'required',
    });
  });

  it('validates what pricing needs, in Anthropic terms', () => {
    const ok = { model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
    expect(validateMessagesBody(ok)).toMatchObject({ ok: true, value: { stream: false } });
    expect(validateMessagesBody({ ...ok, stream: true })).toMatchObject({
      ok: true,
      value: { stream: true, clientWantsUsage: true },
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ ...ok, model: '' }, 'model'],
      [{ ...ok, max_tokens: undefined }, 'max_tokens'],
      [{ ...ok, max_tokens: 0 }, 'max_tokens'],
      [{ ...ok, max_tokens: 1.5 }, 'max_tokens'],
      [{ ...ok, messages: [] }, 'messages'],
      [{ ...ok, messages: [{ role: 'system', content: 'x' }] }, 'messages.0.role'],
      [{ ...ok, messages: [{ role: 'user', content: 3 }] }, 'messages.0.content'],
      [{ ...ok, system: 5 }, 'system'],
      [{ ...ok, stream: 'yes' }, 'stream'],
      [{ ...ok, tools: {} }, 'tools'],
    ];
    for (const [body, param] of cases) {
      expect(validateMessagesBody(body), param).toMatchObject({
        ok: false,
        error: { code: 'invalid_request', param },
      });
    }
  });

  it('the input estimate counts the body as chat, plus a page image per PDF document', () => {
    const plain = { model: 'c', max_tokens: 5, messages: [{ role: 'user', content: 'hello world' }] };
    const pdf = {
      ...plain,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } },
          ],
        },
      ],
    };
    expect(estimateMessagesInputTokens(plain)).toBeGreaterThan(2);
    expect(estimateMessagesInputTokens(pdf)).toBeGreaterThan(1800);
  });

  it('clamping lowers max_tokens and keeps extended thinking below it (or drops it)', () => {
    const body: Record<string, unknown> = {
      max_tokens: 8000,
      thinking: { type: 'enabled', budget_tokens: 4000 },
    };
    setMessagesMaxTokens(body, 3000);
    expect(body).toEqual({ max_tokens: 3000, thinking: { type: 'enabled', budget_tokens: 2999 } });
    setMessagesMaxTokens(body, 500);
    expect(body).toEqual({ max_tokens: 500 });
    setMessagesMaxTokens(body, 900);
    expect(body.max_tokens).toBe(500);
  });
});

describe('errors in Anthropic shape', () => {
  it('keeps the status and headers; maps the code to an Anthropic error type', () => {
    const r = anthropicErrorResponse(
      denial('budget_exceeded', 'over', { policyId: 'p', headers: { 'x-budget-exceeded': 'p' } }),
    );
    expect(r).toEqual({
      status: 429,
      headers: { 'x-tollgate-error-code': 'budget_exceeded', 'x-budget-exceeded': 'p' },
      body: { type: 'error', error: { type: 'rate_limit_error', message: 'over' } },
    });
    expect(anthropicErrorResponse(denial('invalid_api_key', 'no')).body).toMatchObject({
      error: { type: 'authentication_error' },
    });
    expect(anthropicErrorResponse(denial('model_not_allowed', 'no')).status).toBe(403);
    expect(anthropicErrorResponse(denial('upstream_error', 'x', { upstreamStatus: 529 })).body).toMatchObject(
      {
        error: { type: 'overloaded_error' },
      },
    );
    expect(anthropicStreamError(denial('upstream_error', 'cut'))).toBe(
      '\n\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"cut"}}\n\n',
    );
  });
});
