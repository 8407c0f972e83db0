import { describe, expect, it } from 'vitest';
import { geminiAdapter } from './index.ts';
import { GeminiStreamDecoder } from './stream.ts';

const usageMetadata = { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 };
const text = (t: string) => ({ role: 'model', parts: [{ text: t }] });
const call = { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { q: 'x' } } }] };

const answer = (...candidates: Record<string, unknown>[]) => ({ candidates, usageMetadata });
const event = (body: Record<string, unknown>) => `data: ${JSON.stringify(body)}\r\n\r\n`;

function decode(sse: string, size: number): GeminiStreamDecoder {
  const decoder = new GeminiStreamDecoder();
  const bytes = Buffer.from(sse);
  for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size));
  decoder.end();
  return decoder;
}

describe("Gemini finish reasons: each candidate's finishReason as Gemini says it", () => {
  it.each([
    ['STOP', text('Hi')],
    ['MAX_TOKENS', text('Hi')],
    // Gemini says STOP after a function call (the canonical finish_reason is tool_calls).
    ['STOP', call],
    ['SAFETY', text('')],
  ])('JSON: %s', (reason, content) => {
    const body = answer({ content, finishReason: reason, index: 0 });
    expect(geminiAdapter.canonical.fromJson(body).finishReasons).toEqual([reason]);
    expect(geminiAdapter.finishReasonsFromJson?.('openai-chat', body)).toEqual([reason]);
  });

  it('JSON: one per candidate by index; a blocked prompt gives its blockReason; garbage none', () => {
    const two = answer(
      { content: text('b'), finishReason: 'MAX_TOKENS', index: 1 },
      { content: text('a'), finishReason: 'STOP', index: 0 },
    );
    expect(geminiAdapter.canonical.fromJson(two).finishReasons).toEqual(['STOP', 'MAX_TOKENS']);
    const blocked = { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata };
    expect(geminiAdapter.canonical.fromJson(blocked).finishReasons).toEqual(['PROHIBITED_CONTENT']);
    for (const junk of [null, 'x', [], { candidates: 'no' }, { candidates: [{ finishReason: 4 }] }])
      expect(geminiAdapter.canonical.fromJson(junk).finishReasons).toEqual([]);
  });

  it.each([
    ['STOP', text(' there')],
    ['MAX_TOKENS', text(' there')],
    ['STOP', call],
  ])('stream, split anywhere: %s', (reason, last) => {
    const sse =
      event({ candidates: [{ content: text('Hi'), index: 0 }] }) +
      event({ candidates: [{ content: last, finishReason: reason, index: 0 }], usageMetadata });
    for (const size of [1, 17, 100_000]) {
      const decoder = decode(sse, size);
      expect(decoder.completed()).toBe(true);
      expect(decoder.finishReasons()).toEqual([reason]);
    }
  });

  it('stream: several candidates by index, none before they finish, a blocked prompt its blockReason', () => {
    const first = event({
      candidates: [
        { content: text('a'), index: 0 },
        { content: text('b'), index: 1 },
      ],
    });
    expect(decode(first, 5).finishReasons()).toEqual([]);
    const done =
      first +
      event({ candidates: [{ content: text('c'), finishReason: 'MAX_TOKENS', index: 1 }] }) +
      event({ candidates: [{ content: text('d'), finishReason: 'STOP', index: 0 }], usageMetadata });
    expect(decode(done, 5).finishReasons()).toEqual(['STOP', 'MAX_TOKENS']);
    const blocked = decode(event({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata }), 3);
    expect(blocked.completed()).toBe(true);
    expect(blocked.finishReasons()).toEqual(['SAFETY']);
  });
});
