import { describe, expect, it } from 'vitest';
import { ResponsesStreamMeter } from './responsesStream.ts';

const event = (type: string, fields: Record<string, unknown>, withEventLine = true) =>
  `${withEventLine ? `event: ${type}\n` : ''}data: ${JSON.stringify({ type, ...fields })}\n\n`;

const usage = {
  input_tokens: 50,
  input_tokens_details: { cached_tokens: 20 },
  output_tokens: 12,
  output_tokens_details: { reasoning_tokens: 4 },
  total_tokens: 62,
};

const stream = [
  event('response.created', { response: { id: 'resp_1', status: 'in_progress', output: [] } }),
  event('response.output_item.added', {
    output_index: 0,
    item: { type: 'function_call', name: 'lookup', arguments: '' },
  }),
  event('response.function_call_arguments.delta', { output_index: 0, delta: '{"q":"x"}' }),
  event('response.output_text.delta', { output_index: 1, content_index: 0, delta: 'Hello' }),
  event('response.output_text.delta', { output_index: 1, content_index: 0, delta: ' world' }, false),
].join('');
const completed = event('response.completed', { response: { id: 'resp_1', status: 'completed', usage } });

/** Feeds the bytes in pieces of `size`, returning what the meter passed on. */
function feed(meter: ResponsesStreamMeter, text: string, size: number): string {
  const bytes = Buffer.from(text);
  let out = '';
  for (let i = 0; i < bytes.length; i += size)
    out += meter.push(bytes.subarray(i, i + size))?.toString() ?? '';
  return out + (meter.end()?.toString() ?? '');
}

describe('ResponsesStreamMeter', () => {
  it('passes every byte through and takes usage from response.completed, split anywhere', () => {
    for (const size of [1, 7, 64, 100_000]) {
      const meter = new ResponsesStreamMeter();
      expect(feed(meter, stream + completed, size)).toBe(stream + completed);
      expect(meter.completed()).toBe(true);
      expect(meter.streamError()).toBeNull();
      expect(meter.usage()).toEqual({
        inputTokens: 30,
        cacheReadTokens: 20,
        cacheWriteTokens: 0,
        outputTokens: 12,
        reasoningTokens: 4,
      });
    }
  });

  it('response.incomplete (cut by max_output_tokens) is a clean end with usage', () => {
    const meter = new ResponsesStreamMeter();
    feed(meter, stream + event('response.incomplete', { response: { status: 'incomplete', usage } }), 13);
    expect(meter.completed()).toBe(true);
    expect(meter.usage()?.outputTokens).toBe(12);
  });

  it('without a final event: not completed, and the generated text (tool name, arguments, text) is kept for counting', () => {
    const meter = new ResponsesStreamMeter();
    feed(meter, stream, 5);
    expect(meter.completed()).toBe(false);
    expect(meter.usage()).toBeNull();
    expect(meter.generatedText()).toBe('lookup{"q":"x"}Hello world');
  });

  it('response.failed and error events become the stream error', () => {
    const failed = new ResponsesStreamMeter();
    feed(
      failed,
      stream + event('response.failed', { response: { error: { code: 'server_error', message: 'boom' } } }),
      9,
    );
    expect(failed.streamError()).toBe('boom');
    expect(failed.completed()).toBe(false);
    const errored = new ResponsesStreamMeter();
    feed(errored, stream + event('error', { code: 'x', message: 'bad things', param: null }), 9);
    expect(errored.streamError()).toBe('bad things');
  });

  it('never throws on garbage; a malformed final event is an error, not a clean end', () => {
    const meter = new ResponsesStreamMeter();
    const garbage = 'event: response.output_text.delta\ndata: {"delta":\n\ndata: not json\n\n: comment\n\n';
    expect(() => feed(meter, garbage + 'event: response.completed\ndata: {nope\n\n', 3)).not.toThrow();
    expect(meter.completed()).toBe(false);
    expect(meter.streamError()).toMatch(/malformed response.completed/);
    expect(() => meter.generatedText()).not.toThrow();
  });
});
