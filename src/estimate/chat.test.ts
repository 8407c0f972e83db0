import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { estimateChatInputTokens, IMAGE_PART_TOKENS } from './chat.ts';

const plain = { disallowedSpecial: new Set<string>() };
const tok = (text: string): number => countTokens(text, plain);

describe('estimateChatInputTokens', () => {
  it('counts a one-line prompt with framing, priming and margin', () => {
    // priming 3 + framing 4 + "user" 1 + "Hello" 1 = 9; margin ceil(9/50) + 8.
    expect(estimateChatInputTokens({ messages: [{ role: 'user', content: 'Hello' }] })).toBe(9 + 1 + 8);
  });

  it('counts names, tool calls, tool results and tool definitions', () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      },
    ];
    const args = '{"city":"Berlin"}';
    const body = {
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', name: 'alice', content: 'Weather in Berlin?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: args } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
      tools,
    };
    const raw =
      3 +
      (4 + tok('system') + tok('You are terse.')) +
      (4 + tok('user') + tok('alice') + 1 + tok('Weather in Berlin?')) +
      (4 + tok('assistant') + 8 + tok('get_weather') + tok(args)) +
      (4 + tok('tool') + tok('{"temp":21}') + tok('tool_call_id') + tok('call_1')) +
      (tok(JSON.stringify(tools)) + 16);
    expect(estimateChatInputTokens(body)).toBe(raw + Math.ceil(raw / 50) + 8);
  });

  it('charges a fixed upper bound per image and the data size of audio and files', () => {
    const audio = 'QUJD'.repeat(1000);
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'high' } },
            { type: 'input_audio', input_audio: { data: audio, format: 'wav' } },
            { type: 'file', file: { file_data: 'JVBERi0x', filename: 'a.pdf' } },
          ],
        },
      ],
    };
    expect(estimateChatInputTokens(body)).toBeGreaterThanOrEqual(IMAGE_PART_TOKENS + audio.length + 8);
    expect(estimateChatInputTokens(body, { imageTokens: 30_000 })).toBeGreaterThan(30_000);
  });

  it('counts response_format json_schema and forced tool choice', () => {
    const base = { messages: [{ role: 'user', content: 'hi' }] };
    const schema = {
      type: 'json_schema',
      json_schema: { name: 'answer', schema: { type: 'object', properties: { answer: { type: 'string' } } } },
    };
    const withSchema = estimateChatInputTokens({ ...base, response_format: schema });
    expect(withSchema - estimateChatInputTokens(base)).toBeGreaterThanOrEqual(tok(JSON.stringify(schema)));
  });

  it('never throws on odd shapes', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const odd: unknown[] = [
      null,
      undefined,
      42,
      'text',
      [],
      {},
      { messages: 'not an array' },
      { messages: [null, 5, 'x', [], { content: { a: 1 } }] },
      {
        messages: [
          { role: 7, name: {}, content: [null, 3, { type: 'text', text: 5 }, { type: 'image_url' }] },
        ],
      },
      { messages: [{ role: 'assistant', tool_calls: [null, { function: 'x' }, { function: { name: 1 } }] }] },
      { messages: [{ role: 'assistant', tool_calls: 'nope', function_call: 3 }] },
      {
        messages: [
          { role: 'user', content: [{ type: 'input_audio' }, { type: 'file', file: { file_id: 'f' } }] },
        ],
      },
      { messages: [], tools: 'x', response_format: [] },
      { messages: [circular] },
      { messages: [{ role: 'user', content: 'x', big: 10n }] },
    ];
    for (const body of odd) {
      const n = estimateChatInputTokens(body);
      expect(Number.isInteger(n) && n > 0).toBe(true);
    }
  });

  it('treats special-token text as plain text instead of throwing', () => {
    const n = estimateChatInputTokens({
      messages: [{ role: 'user', content: 'a <|endoftext|> b <|im_start|>' }],
    });
    expect(n).toBeGreaterThan(10);
  });

  it('counts huge texts by bytes, fast', () => {
    const text = 'lorem ipsum dolor sit amet '.repeat(40_000); // ~1 MiB
    const started = performance.now();
    const n = estimateChatInputTokens({ messages: [{ role: 'user', content: text }] });
    expect(performance.now() - started).toBeLessThan(200);
    expect(n).toBeGreaterThanOrEqual(text.length);
  });

  it('switches to bytes once the per-request tokenize budget is spent', () => {
    const chunk = 'the quick brown fox jumps over the lazy dog. '.repeat(1000); // ~45 KiB, ~10k tokens
    const body = { messages: Array.from({ length: 4 }, () => ({ role: 'user', content: chunk })) };
    const tokenizedAll = estimateChatInputTokens(body, { requestTokenizeBytes: 1 << 20 });
    const budgeted = estimateChatInputTokens(body);
    expect(budgeted).toBeGreaterThan(tokenizedAll); // bytes > tokens: still an upper bound
  });
});

/**
 * What the mock upstream reports, per its spec: per message its text tokens + 3, + 3,
 * + tokens of JSON.stringify(tools), + 85 per image. "Text" is read every plausible way
 * (parts summed, or joined with nothing, newline or space; with or without the name and
 * tool-call text) and the largest is taken, so the bound holds for any of them.
 */
function referencePromptTokens(body: ChatBody): number {
  let total = 3;
  for (const m of body.messages) {
    const texts: string[] = [];
    let images = 0;
    if (typeof m.content === 'string') texts.push(m.content);
    else if (Array.isArray(m.content)) {
      for (const part of m.content) {
        if (part.type === 'text') texts.push(part.text);
        else images += 1;
      }
    }
    const extras: string[] = [];
    if (m.name !== undefined) extras.push(m.name);
    for (const call of m.tool_calls ?? []) extras.push(call.function.name, call.function.arguments);
    const candidates = [texts, [...texts, ...extras]].flatMap((list) => [
      list.reduce((sum, t) => sum + tok(t), 0),
      tok(list.join('')),
      tok(list.join('\n')),
      tok(list.join(' ')),
    ]);
    total += Math.max(...candidates) + 3 + 85 * images;
  }
  if (body.tools !== undefined) total += tok(JSON.stringify(body.tools));
  return total;
}

interface TextPart {
  type: 'text';
  text: string;
}
interface ImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: string };
}
interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}
interface Message {
  role: string;
  content: string | Array<TextPart | ImagePart> | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}
interface ChatBody {
  messages: Message[];
  tools?: unknown[];
}

const LARGE_TEXT = 'Budgets are reserved before the call and settled after it. '.repeat(1200);
const specials = fc.constantFrom('<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|fim_prefix|>');
const words = fc
  .array(
    fc.constantFrom('the', ' cat', 'über', '日本語', '🙂', '\n', '  ', 'function', '{"a":1}', '1234567'),
    {
      maxLength: 200,
    },
  )
  .map((ws) => ws.join(''));
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 3, arbitrary: words },
  { weight: 1, arbitrary: fc.tuple(words, specials, words).map((xs) => xs.join(' ')) },
  // Long runs (counted by bytes to dodge the tokenizer's superlinear merge) and a text
  // above the 64 KiB tokenize threshold.
  { weight: 1, arbitrary: fc.constantFrom(' '.repeat(600), 'a'.repeat(700), '='.repeat(513), LARGE_TEXT) },
);
const name = fc.stringMatching(/^[a-zA-Z0-9_-]{1,32}$/);

const part: fc.Arbitrary<TextPart | ImagePart> = fc.oneof(
  { weight: 4, arbitrary: text.map((t): TextPart => ({ type: 'text', text: t })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('low', 'high', 'auto').map(
      (detail): ImagePart => ({
        type: 'image_url',
        image_url: { url: 'https://example.com/a.png', detail },
      }),
    ),
  },
);
const toolCall: fc.Arbitrary<ToolCall> = fc
  .tuple(name, name, fc.jsonValue({ maxDepth: 2 }))
  .map(([id, fn, args]) => ({
    id,
    type: 'function',
    function: { name: fn, arguments: JSON.stringify(args) },
  }));

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ role: fc.constant('system'), content: text }),
  fc.record(
    { role: fc.constant('user'), content: fc.oneof(text, fc.array(part, { maxLength: 5 })), name },
    { requiredKeys: ['role', 'content'] },
  ),
  fc.record(
    {
      role: fc.constant('assistant'),
      content: fc.option(text, { nil: null }),
      tool_calls: fc.array(toolCall, { minLength: 1, maxLength: 3 }),
      name,
    },
    { requiredKeys: ['role', 'content'] },
  ),
  fc.record({
    role: fc.constant('tool'),
    tool_call_id: name,
    content: fc.oneof(
      text,
      fc.array(
        text.map((t): TextPart => ({ type: 'text', text: t })),
        { maxLength: 3 },
      ),
    ),
  }),
);
const tool = fc.record({
  type: fc.constant('function'),
  function: fc.record({ name, description: text, parameters: fc.jsonValue({ maxDepth: 3 }) }),
});
const chatBody: fc.Arbitrary<ChatBody> = fc.record(
  { messages: fc.array(message, { minLength: 1, maxLength: 12 }), tools: fc.array(tool, { maxLength: 4 }) },
  { requiredKeys: ['messages'] },
);

describe('estimate is an upper bound', () => {
  it('of the mock upstream prompt_tokens, for any chat body', () => {
    fc.assert(
      fc.property(chatBody, (body) => {
        expect(estimateChatInputTokens(body)).toBeGreaterThanOrEqual(referencePromptTokens(body));
      }),
      { numRuns: Number(process.env.TOLLGATE_PROP_RUNS ?? 200) },
    );
  });
});
