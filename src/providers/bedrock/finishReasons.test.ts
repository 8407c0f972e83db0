import { describe, expect, it } from 'vitest';
import { eventFrame } from '../../mock/bedrock/eventStream.ts';
import { bedrockAdapter } from './index.ts';
import { ConverseStreamDecoder } from './stream.ts';

const converse = (stopReason?: string) => ({
  output: { message: { role: 'assistant', content: [{ text: 'Hi' }] } },
  stopReason,
  usage: { inputTokens: 5, outputTokens: 1, totalTokens: 6 },
});

const stream = (stopReason: string) =>
  Buffer.concat([
    eventFrame('messageStart', { role: 'assistant' }),
    eventFrame('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hi' } }),
    eventFrame('contentBlockStop', { contentBlockIndex: 0 }),
    eventFrame('messageStop', { stopReason }),
    eventFrame('metadata', { usage: { inputTokens: 5, outputTokens: 1, totalTokens: 6 } }),
  ]);

describe('Bedrock finish reasons: Converse stopReason as Bedrock says it', () => {
  it.each(['end_turn', 'max_tokens', 'tool_use', 'guardrail_intervened'])('JSON: %s', (reason) => {
    expect(bedrockAdapter.canonical.fromJson(converse(reason)).finishReasons).toEqual([reason]);
    expect(bedrockAdapter.finishReasonsFromJson?.('openai-chat', converse(reason))).toEqual([reason]);
  });

  it('JSON without a stopReason, or garbage: none', () => {
    expect(bedrockAdapter.canonical.fromJson(converse()).finishReasons).toEqual([]);
    expect(bedrockAdapter.canonical.fromJson(null).finishReasons).toEqual([]);
    expect(bedrockAdapter.finishReasonsFromJson?.('openai-chat', 'x')).toEqual([]);
  });

  it.each(['end_turn', 'max_tokens', 'tool_use'])('stream, split anywhere: %s', (reason) => {
    const bytes = stream(reason);
    for (const size of [1, 13, 100_000]) {
      const decoder = new ConverseStreamDecoder();
      for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size));
      decoder.end();
      expect(decoder.completed()).toBe(true);
      expect(decoder.finishReasons()).toEqual([reason]);
    }
  });

  it('none before messageStop', () => {
    const decoder = new ConverseStreamDecoder();
    decoder.push(eventFrame('messageStart', { role: 'assistant' }));
    expect(decoder.finishReasons()).toEqual([]);
  });
});
