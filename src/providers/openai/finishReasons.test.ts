import { describe, expect, it } from 'vitest';
import { azureAdapter } from '../azure/index.ts';
import { openAiAdapter } from './index.ts';
import { ResponsesStreamMeter } from './responsesStream.ts';
import { OpenAiChatDecoder, OpenAiStreamMeter } from './stream.ts';

const usage = { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 };

const completion = (...reasons: Array<string | null>) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  choices: reasons.map((finish_reason, index) => ({
    index,
    message: { role: 'assistant', content: 'hi' },
    finish_reason,
  })),
  usage,
});

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
const delta = (index: number, content: string) =>
  chunk([{ index, delta: { content }, logprobs: null, finish_reason: null }]);
const finish = (index: number, reason: string) =>
  chunk([{ index, delta: {}, logprobs: null, finish_reason: reason }]);
const usageChunk = chunk([], { usage });
const DONE = 'data: [DONE]\n\n';

/** Feeds `text` in pieces of `size`, returning what the meter passed on. */
function feed(meter: { push(c: Buffer): Buffer | null; end(): Buffer | null }, text: string, size: number) {
  const bytes = Buffer.from(text);
  let out = '';
  for (let i = 0; i < bytes.length; i += size)
    out += meter.push(bytes.subarray(i, i + size))?.toString() ?? '';
  return out + (meter.end()?.toString() ?? '');
}

describe('OpenAI chat finish reasons from JSON', () => {
  it.each([
    ['stop', ['stop']],
    ['length', ['length']],
    ['tool_calls', ['tool_calls']],
  ])('%s', (reason, expected) => {
    expect(openAiAdapter.finishReasonsFromJson?.('openai-chat', completion(reason))).toEqual(expected);
    expect(openAiAdapter.canonical.fromJson(completion(reason)).finishReasons).toEqual(expected);
  });

  it('one per choice, in choice order; a choice without a reason is left out', () => {
    expect(openAiAdapter.finishReasonsFromJson?.('openai-chat', completion('stop', 'length'))).toEqual([
      'stop',
      'length',
    ]);
    expect(openAiAdapter.finishReasonsFromJson?.('openai-chat', completion(null))).toEqual([]);
  });

  it('embeddings and garbage: none', () => {
    const embeddings = { object: 'list', data: [{ embedding: [0.1] }], usage };
    expect(openAiAdapter.finishReasonsFromJson?.('openai-embeddings', embeddings)).toEqual([]);
    for (const junk of [null, 'x', 42, [], { choices: 'no' }, { choices: [null, 7] }])
      expect(openAiAdapter.finishReasonsFromJson?.('openai-chat', junk)).toEqual([]);
  });

  it('Azure reports the same', () => {
    expect(azureAdapter.finishReasonsFromJson?.('openai-chat', completion('length'))).toEqual(['length']);
    expect(azureAdapter.canonical.fromJson(completion('tool_calls')).finishReasons).toEqual(['tool_calls']);
  });
});

describe('OpenAI Responses finish reasons from JSON: the status, or why it is incomplete', () => {
  it.each([
    [{ status: 'completed', incomplete_details: null }, ['completed']],
    [{ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }, ['max_output_tokens']],
    [{ status: 'incomplete', incomplete_details: { reason: 'content_filter' } }, ['content_filter']],
    [{ status: 'incomplete' }, ['incomplete']],
    [{ status: 'failed', error: { message: 'x' } }, ['failed']],
    [{ output: [] }, []],
  ])('%j', (body, expected) => {
    expect(openAiAdapter.finishReasonsFromJson?.('openai-responses', { id: 'resp_1', ...body })).toEqual(
      expected,
    );
  });
});

describe('OpenAI chat finish reasons from a stream', () => {
  const body = (...finishes: string[]) =>
    delta(0, 'Hel') + delta(0, 'lo') + finishes.join('') + usageChunk + DONE;

  it.each([
    ['stop', ['stop']],
    ['length', ['length']],
    ['tool_calls', ['tool_calls']],
  ])('%s, split anywhere, bytes unchanged', (reason, expected) => {
    for (const size of [1, 7, 100_000]) {
      const meter = new OpenAiStreamMeter(true);
      const text = body(finish(0, reason));
      expect(feed(meter, text, size)).toBe(text);
      expect(meter.finishReasons()).toEqual(expected);
      expect(meter.usage()?.outputTokens).toBe(4);
    }
  });

  it('several choices finishing out of order are listed by index', () => {
    const meter = new OpenAiStreamMeter(false);
    feed(
      meter,
      delta(1, 'a') + delta(0, 'b') + finish(1, 'length') + finish(0, 'stop') + usageChunk + DONE,
      11,
    );
    expect(meter.finishReasons()).toEqual(['stop', 'length']);
  });

  it('a finish reason in the usage chunk (some OpenAI-compatible servers) counts too', () => {
    const meter = new OpenAiStreamMeter(true);
    const last = chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], { usage });
    feed(meter, delta(0, 'x') + last.replace('"finish_reason":"stop"', '"finish_reason": "stop"') + DONE, 5);
    expect(meter.finishReasons()).toEqual(['stop']);
    expect(meter.usage()?.outputTokens).toBe(4);
  });

  it('none before the final chunk, and none on a cut stream', () => {
    const meter = new OpenAiStreamMeter(true);
    feed(meter, delta(0, 'Hel') + delta(0, 'lo'), 3);
    expect(meter.finishReasons()).toEqual([]);
    expect(meter.generatedText()).toBe('Hello');
  });

  it('the decoder (translated leg) reports them and still emits every chunk once', () => {
    const decoder = new OpenAiChatDecoder();
    const text = body(finish(0, 'tool_calls'));
    const bytes = Buffer.from(text);
    const chunks = [
      ...decoder.push(bytes.subarray(0, 50)),
      ...decoder.push(bytes.subarray(50)),
      ...decoder.end(),
    ];
    expect(chunks).toHaveLength(4);
    expect(decoder.finishReasons()).toEqual(['tool_calls']);
  });
});

describe('OpenAI Responses finish reasons from a stream', () => {
  const event = (type: string, fields: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`;
  const start =
    event('response.created', { response: { id: 'resp_1', status: 'in_progress' } }) +
    event('response.output_text.delta', { output_index: 0, content_index: 0, delta: 'Hi' });
  const responsesUsage = { input_tokens: 5, output_tokens: 2, total_tokens: 7 };

  it('completed, incomplete (max_output_tokens) and failed; nothing before the final event', () => {
    const completed = new ResponsesStreamMeter();
    feed(completed, start, 4);
    expect(completed.finishReasons()).toEqual([]);
    feed(
      completed,
      event('response.completed', { response: { status: 'completed', usage: responsesUsage } }),
      4,
    );
    expect(completed.finishReasons()).toEqual(['completed']);

    const cut = new ResponsesStreamMeter();
    const incomplete = {
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      usage: responsesUsage,
    };
    feed(cut, start + event('response.incomplete', { response: incomplete }), 9);
    expect(cut.finishReasons()).toEqual(['max_output_tokens']);

    const failed = new ResponsesStreamMeter();
    feed(
      failed,
      start + event('response.failed', { response: { status: 'failed', error: { message: 'x' } } }),
      9,
    );
    expect(failed.finishReasons()).toEqual(['failed']);
    expect(failed.streamError()).toBe('x');
  });
});
