import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRecord } from '../../src/ledger/types.ts';
import { MOCK_AZURE_API_KEY } from '../../src/mock/azure/index.ts';
import { type MockServer, mockContent, mockPromptTokens, startMock } from '../../src/mock/index.ts';
import { bundledPrices } from '../../src/pricing/bundled.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/**
 * Azure OpenAI through the real gateway: the official openai client on one side, the mock's
 * Azure deployment routes (api-key and api-version checked) on the other.
 */

const API_VERSION = '2024-10-21';
/** Explicit prices for the custom-named deployment, USD per million tokens → pico-USD per token. */
const CUSTOM = { input: 2, output: 8, cache_read: 0.5 };
const CUSTOM_PICO = { input: 2_000_000, output: 8_000_000, cacheRead: 500_000 };
/** Azure's bundled gpt-4o-mini prices (checked below against the bundled data). */
const MINI_PICO = { input: 150_000, output: 600_000, cacheRead: 75_000 };
const nanos = (p: typeof CUSTOM_PICO, u: { input: number; output: number; cacheRead?: number }) =>
  Math.ceil((u.input * p.input + (u.cacheRead ?? 0) * p.cacheRead + u.output * p.output) / 1000);

const azureProvider = (url: string, extra: Record<string, unknown> = {}) => ({
  kind: 'azure',
  base_url: url,
  api_key: MOCK_AZURE_API_KEY,
  api_version: API_VERSION,
  forward_headers: ['x-mock-*'],
  ...extra,
});

let azure: MockServer;
let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  azure = await startMock({ recordRequests: 50, outputTokens: 12 });
  h = await startHarness({
    config: {
      providers: {
        // The resource endpoint as Azure shows it, with a trailing slash.
        az: azureProvider(`${azure.url}/`),
        'az-bad-key': azureProvider(azure.url, { api_key: 'not-the-key' }),
        'az-bad-version': azureProvider(azure.url, { api_version: 'latest' }),
      },
      models: [
        // A deployment named after its model: Azure's bundled prices apply.
        { id: 'gpt-4o-mini', provider: 'az' },
        // A custom deployment name: priced explicitly.
        { id: 'team-gpt', provider: 'az', upstream_model: 'prod-gpt4o-eu', prices: CUSTOM },
        { id: 'az-bad-key', provider: 'az-bad-key', upstream_model: 'gpt-4o-mini', prices: CUSTOM },
        { id: 'az-bad-version', provider: 'az-bad-version', upstream_model: 'gpt-4o-mini', prices: CUSTOM },
      ],
      budgets: [{ id: 'azure-cap', match: { team: 'search' }, limit: { usd: 50 } }],
    },
  });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => {
  await h.close();
  await azure.close();
});

const finalRow = (callId: string): Promise<CallRecord> => h.finalRow(callId, keyId);

const lastReceived = () => azure.received.at(-1)!;

describe('Azure OpenAI through the gateway (official openai client)', () => {
  it("gpt-4o-mini's bundled 'azure' prices are the ones this test expects", () => {
    expect(bundledPrices('gpt-4o-mini', 'azure')).toMatchObject(MINI_PICO);
  });

  it('JSON: the deployment path, api-version and api-key header; the ledger equals usage x prices', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Name a river.' },
    ];
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({ model: 'team-gpt', messages, max_tokens: 50 })
      .withResponse();

    const sent = lastReceived();
    expect(sent.path).toBe('/openai/deployments/prod-gpt4o-eu/chat/completions');
    expect(sent.url).toBe(`/openai/deployments/prod-gpt4o-eu/chat/completions?api-version=${API_VERSION}`);
    expect(sent.headers['api-key']).toBe(MOCK_AZURE_API_KEY);
    expect(sent.headers.authorization).toBeUndefined();
    expect(JSON.stringify(sent.headers)).not.toContain(secret);
    // Native pass-through: the body is the client's, with the deployment as the model.
    expect(sent.body).toEqual({ model: 'prod-gpt4o-eu', messages, max_tokens: 50 });

    const prompt = mockPromptTokens({ model: 'prod-gpt4o-eu', messages });
    expect(data.choices[0]?.message.content).toBe(mockContent(12));
    expect(data.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: 12 });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      status: 'ok',
      provider: 'az',
      modelRequested: 'team-gpt',
      usageSource: 'provider',
      inputTokens: prompt,
      outputTokens: 12,
      cacheReadTokens: 0,
    });
    expect(row.cost).toBe(nanos(CUSTOM_PICO, { input: prompt, output: 12 }));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((row.cost / 1e9).toString());
  });

  it('cached and reasoning tokens are billed by kind, as OpenAI reports them', async () => {
    const messages = [{ role: 'user' as const, content: 'Partly cached prompt, please.' }];
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages },
        { headers: { 'x-mock-cached-tokens': '4', 'x-mock-reasoning-tokens': '6' } },
      )
      .withResponse();
    expect(lastReceived().path).toBe('/openai/deployments/gpt-4o-mini/chat/completions');
    const prompt = mockPromptTokens({ model: 'gpt-4o-mini', messages });
    expect(data.usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: 18 });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      inputTokens: prompt - 4,
      cacheReadTokens: 4,
      outputTokens: 18,
      reasoningTokens: 6,
    });
    expect(row.cost).toBe(nanos(MINI_PICO, { input: prompt - 4, cacheRead: 4, output: 18 }));
  });

  it('streaming with include_usage: bytes pass through; the ledger equals the usage chunk', async () => {
    const messages = [{ role: 'user' as const, content: 'Stream something.' }];
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create({
        model: 'team-gpt',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let text = '';
    let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    const sent = lastReceived();
    expect(sent.url).toBe(`/openai/deployments/prod-gpt4o-eu/chat/completions?api-version=${API_VERSION}`);
    expect(sent.headers['api-key']).toBe(MOCK_AZURE_API_KEY);
    expect(sent.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const prompt = mockPromptTokens({ model: 'prod-gpt4o-eu', messages });
    expect(text).toBe(mockContent(12));
    expect(usage).toMatchObject({ prompt_tokens: prompt, completion_tokens: 12 });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({
      stream: true,
      usageSource: 'provider',
      inputTokens: prompt,
      outputTokens: 12,
    });
    expect(row.cost).toBe(nanos(CUSTOM_PICO, { input: prompt, output: 12 }));
  });

  it('streaming without include_usage: usage asked for upstream, stripped for the client, still billed', async () => {
    const messages = [{ role: 'user' as const, content: 'hello' }];
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })
      .withResponse();
    let sawUsage = false;
    for await (const chunk of stream) if (chunk.usage) sawUsage = true;
    expect(sawUsage).toBe(false);
    expect(lastReceived().body).toMatchObject({ stream_options: { include_usage: true } });
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.usageSource).toBe('provider');
    expect(row.cost).toBe(
      nanos(MINI_PICO, { input: mockPromptTokens({ model: 'gpt-4o-mini', messages }), output: 12 }),
    );
  });

  it('a cut stream is billed on counted tokens', async () => {
    const { data: stream, response } = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'team-gpt', messages: [{ role: 'user', content: 'Long story.' }], stream: true },
        { headers: { 'x-mock-fault': 'cut', 'x-mock-output-tokens': '40' } },
      )
      .withResponse();
    await expect(
      (async () => {
        for await (const _chunk of stream) {
          // drain
        }
      })(),
    ).rejects.toThrow();
    const row = await finalRow(response.headers.get('x-tollgate-call-id') ?? '');
    expect(row).toMatchObject({ status: 'upstream_error', usageSource: 'estimated', outputTokens: 20 });
    expect(row.cost).toBeGreaterThan(0);
  });

  it('Azure errors: a wrong key or an unknown api-version are clear errors that cost $0', async () => {
    const client = h.openai(secret);
    const fail = (model: string) =>
      client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'hi' }] })
        .then(() => null)
        .catch((e: { status: number; code: string; message: string; headers: Headers }) => e);

    const badKey = await fail('az-bad-key');
    expect(badKey).toMatchObject({ status: 502, code: 'upstream_error' });
    expect(badKey?.message).toContain('Access denied due to invalid subscription key');
    expect(lastReceived().headers['api-key']).toBe('not-the-key');

    const badVersion = await fail('az-bad-version');
    expect(badVersion).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(badVersion?.message).toContain('Resource not found');
    expect(lastReceived().url).toBe('/openai/deployments/gpt-4o-mini/chat/completions?api-version=latest');

    for (const err of [badKey, badVersion]) {
      const row = await finalRow(err?.headers.get('x-tollgate-call-id') ?? '');
      expect(row.cost).toBe(0);
    }
  });

  it('upstream 429 and 500 map to 429 and 502, $0', async () => {
    for (const [fault, status] of [
      ['429', 429],
      ['500', 502],
    ] as const) {
      const err = await h
        .openai(secret)
        .chat.completions.create(
          { model: 'team-gpt', messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-mock-fault': fault } },
        )
        .then(() => null)
        .catch((e: { status: number; headers: Headers }) => e);
      expect(err?.status).toBe(status);
      const row = await finalRow(err?.headers.get('x-tollgate-call-id') ?? '');
      expect(row.cost).toBe(0);
    }
  });
});
