import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mockResponsesInputTokens } from '../mock/index.ts';
import { estimateEmbeddingsInputTokens } from './embeddings.ts';
import { estimateResponsesInputTokens } from './responses.ts';

const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 100 }));
const part = fc.oneof(
  text.map((t) => ({ type: 'input_text', text: t })),
  text.map((t) => ({ type: 'output_text', text: t })),
  fc.constant({ type: 'input_image', image_url: 'https://example.com/a.png' }),
);
const item = fc.oneof(
  fc.record({ role: fc.constantFrom('user', 'assistant', 'developer', 'system'), content: text }),
  fc.record({
    type: fc.constant('message'),
    role: fc.constantFrom('user', 'assistant'),
    content: fc.array(part, { maxLength: 4 }),
  }),
  fc.record({ type: fc.constant('function_call'), call_id: text, name: text, arguments: text }),
  fc.record({ type: fc.constant('function_call_output'), call_id: text, output: text }),
  fc.record({ type: fc.constant('reasoning'), id: text, summary: fc.constant([]) }),
);
const body = fc.record(
  {
    model: fc.constant('gpt-4.1-mini'),
    instructions: text,
    input: fc.oneof(text, fc.array(item, { maxLength: 6 })),
    tools: fc.array(
      fc.record({ type: fc.constant('function'), name: text, parameters: fc.constant({ type: 'object' }) }),
      { maxLength: 3 },
    ),
  },
  { requiredKeys: ['model', 'input'] },
);

describe('estimateResponsesInputTokens', () => {
  it("is an upper bound of the mock's (OpenAI-like) input_tokens for any request", () => {
    fc.assert(
      fc.property(body, (b) => {
        expect(estimateResponsesInputTokens(b)).toBeGreaterThanOrEqual(mockResponsesInputTokens(b));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on odd shapes', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const b of [
      null,
      5,
      'x',
      [],
      {},
      { input: 7 },
      { input: [null, 3, [], { content: {} }] },
      { input: [circular] },
      { instructions: [{ role: 1 }], tools: 'x', text: { format: {} } },
    ]) {
      const n = estimateResponsesInputTokens(b);
      expect(Number.isInteger(n) && n > 0).toBe(true);
    }
  });
});

describe('estimateEmbeddingsInputTokens', () => {
  it('counts strings, batches and token arrays, with a margin', () => {
    expect(estimateEmbeddingsInputTokens({ input: [1, 2, 3] })).toBeGreaterThanOrEqual(3);
    expect(estimateEmbeddingsInputTokens({ input: [[1, 2], [3]] })).toBeGreaterThanOrEqual(3);
    const one = estimateEmbeddingsInputTokens({ input: 'hello world' });
    expect(estimateEmbeddingsInputTokens({ input: ['hello world', 'hello world'] })).toBeGreaterThan(one);
    for (const odd of [null, {}, { input: { a: 1 } }, { input: [null, {}, [null]] }]) {
      expect(Number.isInteger(estimateEmbeddingsInputTokens(odd))).toBe(true);
    }
  });
});
