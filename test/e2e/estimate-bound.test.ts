import fc from 'fast-check';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_ANTHROPIC_API_KEY } from '../../src/mock/anthropic/index.ts';
import { MOCK_AZURE_API_KEY } from '../../src/mock/azure/index.ts';
import { MOCK_AWS_ACCESS_KEY_ID, MOCK_AWS_SECRET_ACCESS_KEY } from '../../src/mock/bedrock/sigv4.ts';
import { MOCK_GEMINI_API_KEY } from '../../src/mock/gemini/index.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * The reservation is only a guarantee if the worst-case estimate bounds the real cost. Generated
 * requests (system prompts, multi-turn, tools and tool results, images, unicode, long texts) go
 * through the real gateway to every provider shape; every settled cost must be ≤ its reservation.
 */
let upstream: MockServer;
let h: Harness;
let secret: string;
let keyId: string;

const MODELS = [
  'gpt-4.1-mini',
  'azure-gpt',
  'claude-sonnet-4-20250514',
  'bedrock-claude',
  'gemini-2.5-flash',
];
const RUNS_PER_MODEL = 40;

beforeAll(async () => {
  upstream = await startMock({ outputTokens: 64 });
  const url = upstream.url;
  h = await startHarness({
    config: {
      providers: {
        mock: { kind: 'openai', base_url: `${url}/v1`, api_key: 'upstream-secret' },
        azure: { kind: 'azure', base_url: url, api_key: MOCK_AZURE_API_KEY },
        anthropic: { kind: 'anthropic', base_url: url, api_key: MOCK_ANTHROPIC_API_KEY },
        aws: {
          kind: 'bedrock',
          base_url: url,
          region: 'us-east-1',
          aws_access_key_id: MOCK_AWS_ACCESS_KEY_ID,
          aws_secret_access_key: MOCK_AWS_SECRET_ACCESS_KEY,
        },
        gemini: { kind: 'gemini', base_url: url, api_key: MOCK_GEMINI_API_KEY },
      },
      models: [
        { id: 'gpt-4.1-mini', provider: 'mock' },
        {
          id: 'azure-gpt',
          provider: 'azure',
          upstream_model: 'gpt-4.1-mini',
          prices: { input: 0.4, output: 1.6 },
        },
        { id: 'claude-sonnet-4-20250514', provider: 'anthropic', max_output_tokens: 8192 },
        {
          id: 'bedrock-claude',
          provider: 'aws',
          upstream_model: 'anthropic.claude-3-5-sonnet-20241022-v2:0',
          max_output_tokens: 8192,
        },
        { id: 'gemini-2.5-flash', provider: 'gemini', max_output_tokens: 8192 },
      ],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => {
  await h.close();
  await upstream.close();
});

const text = fc.oneof(
  fc.string({ minLength: 1, maxLength: 200 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }),
  fc.lorem({ maxCount: 300 }),
);
const TINY_PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const tool = {
  type: 'function' as const,
  function: {
    name: 'lookup',
    description: 'Look something up',
    parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
  },
};

type Msg = OpenAI.Chat.Completions.ChatCompletionMessageParam;
const conversation = fc
  .record({
    system: fc.option(text, { nil: undefined }),
    turns: fc.array(fc.tuple(text, text), { minLength: 0, maxLength: 3 }),
    last: text,
    image: fc.boolean(),
    toolRound: fc.boolean(),
    tools: fc.boolean(),
    maxTokens: fc.integer({ min: 1, max: 400 }),
  })
  .map((g) => {
    const messages: Msg[] = [];
    if (g.system) messages.push({ role: 'system', content: g.system });
    for (const [u, a] of g.turns)
      messages.push({ role: 'user', content: u }, { role: 'assistant', content: a });
    if (g.toolRound) {
      messages.push(
        { role: 'user', content: 'look it up' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: g.last },
      );
    }
    messages.push(
      g.image
        ? {
            role: 'user',
            content: [
              { type: 'text', text: g.last },
              { type: 'image_url', image_url: { url: TINY_PNG } },
            ],
          }
        : { role: 'user', content: g.last },
    );
    return { messages, tools: g.tools || g.toolRound ? [tool] : undefined, max_tokens: g.maxTokens };
  });

describe('the worst-case estimate bounds the real cost, for every provider shape', () => {
  it.each(MODELS)('%s: 100%% of settled costs ≤ reserved over generated requests', async (model) => {
    const samples = fc.sample(conversation, { numRuns: RUNS_PER_MODEL, seed: 42 });
    const client = h.openai(secret);
    const capOf = new Map<string, number>();
    for (const body of samples) {
      const { response } = await client.chat.completions.create({ model, ...body }).withResponse();
      capOf.set(response.headers.get('x-tollgate-call-id') ?? '', body.max_tokens);
    }
    await h.gateway.services.ledger.flush();
    const rows = (await h.gateway.services.store.ledger.queryCalls({ keyId, model, limit: 1000 })).filter(
      (r) => r.status === 'ok',
    );
    expect(rows.length).toBe(RUNS_PER_MODEL);
    for (const r of rows) {
      expect(r.usageSource).toBe('provider');
      expect(r.cost).toBeGreaterThan(0);
      expect(r.cost, `call ${r.callId}: cost ${r.cost} > reserved ${r.reserved}`).toBeLessThanOrEqual(
        r.reserved,
      );
      // With a small output cap the input dominates: the input estimate alone must bound the real input.
      const cap = capOf.get(r.callId);
      expect(cap).toBeDefined();
      const estimatedInput = r.reservedTokens - (cap ?? 0);
      expect(r.inputTokens + r.cacheReadTokens + r.cacheWriteTokens).toBeLessThanOrEqual(estimatedInput);
      expect(r.outputTokens).toBeLessThanOrEqual(cap ?? 0);
    }
  });
});
