import { describe, expect, it } from 'vitest';
import { anthropicAdapter } from './index.ts';
import { AnthropicChatDecoder, AnthropicStreamMeter } from './stream.ts';

const message = (stop_reason: string | null) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  content: [{ type: 'text', text: 'Hi' }],
  stop_reason,
  usage: { input_tokens: 5, output_tokens: 1 },
});

const sse = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

const head =
  sse('message_start', {
    message: { id: 'msg_1', role: 'assistant', content: [], usage: { input_tokens: 5, output_tokens: 1 } },
  }) +
  sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } }) +
  sse('content_block_stop', { index: 0 });
const tail = (stopReason: string) =>
  sse('message_delta', {
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: 2 },
  }) + sse('message_stop', {});

function feed(meter: { push(c: Buffer): unknown; end(): unknown }, text: string, size: number): void {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) meter.push(bytes.subarray(i, i + size));
  meter.end();
}

describe('Anthropic finish reasons: stop_reason as Anthropic says it', () => {
  it.each(['end_turn', 'max_tokens', 'tool_use', 'stop_sequence'])(
    'JSON, native and translated: %s',
    (reason) => {
      expect(anthropicAdapter.finishReasonsFromJson?.('anthropic-messages', message(reason))).toEqual([
        reason,
      ]);
      expect(anthropicAdapter.canonical.fromJson(message(reason)).finishReasons).toEqual([reason]);
    },
  );

  it('JSON without a stop_reason, or garbage: none', () => {
    expect(anthropicAdapter.finishReasonsFromJson?.('anthropic-messages', message(null))).toEqual([]);
    for (const junk of [null, 'x', [], { stop_reason: 3 }])
      expect(anthropicAdapter.finishReasonsFromJson?.('anthropic-messages', junk)).toEqual([]);
    expect(anthropicAdapter.canonical.fromJson('garbage').finishReasons).toEqual([]);
  });

  it.each(['end_turn', 'max_tokens', 'tool_use'])(
    'stream (meter and decoder), split anywhere: %s',
    (reason) => {
      for (const size of [1, 9, 100_000]) {
        const meter = new AnthropicStreamMeter();
        const decoder = new AnthropicChatDecoder();
        feed(meter, head + tail(reason), size);
        feed(decoder, head + tail(reason), size);
        expect(meter.finishReasons()).toEqual([reason]);
        expect(decoder.finishReasons()).toEqual([reason]);
        expect(meter.completed()).toBe(true);
      }
    },
  );

  it('none until message_delta says', () => {
    const meter = new AnthropicStreamMeter();
    feed(meter, head, 7);
    expect(meter.finishReasons()).toEqual([]);
  });
});
