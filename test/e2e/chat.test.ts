import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mockPromptTokens } from '../../src/mock/index.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** Independent price oracle: published USD per million tokens, as integer pico-USD per token. */
const PICO = {
  'gpt-4.1-mini': { input: 400_000, output: 1_600_000, cached: 100_000 },
  'custom-priced': { input: 1_000_000, output: 3_000_000, cached: 250_000 },
};
const expectedNanos = (model: keyof typeof PICO, uncached: number, cached: number, output: number) =>
  Math.ceil(
    (uncached * PICO[model].input + cached * PICO[model].cached + output * PICO[model].output) / 1000,
  );

let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  h = await startHarness({ mock: { outputTokens: 24 } });
  const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod', name: 'chat-test' });
  secret = k.secret;
  keyId = k.id;
});
afterAll(async () => h.close());

async function callRow(callId: string) {
  await h.gateway.services.ledger.flush();
  const rows = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 1000 });
  const row = rows.find((r) => r.callId === callId);
  if (!row) throw new Error(`no ledger row for ${callId}`);
  return row;
}

describe('chat completions through the gateway (official openai client)', () => {
  it('JSON: usage and cost on the ledger row equal mock usage x published prices', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Name three rivers in Europe.' },
    ];
    const { data, response } = await h
      .openai(secret)
      .chat.completions.create({ model: 'gpt-4.1-mini', messages, max_tokens: 100 })
      .withResponse();
    const prompt = mockPromptTokens({ model: 'gpt-4.1-mini', messages });
    expect(data.usage?.prompt_tokens).toBe(prompt);
    expect(data.usage?.completion_tokens).toBe(24);
    const callId = response.headers.get('x-tollgate-call-id') ?? '';
    const row = await callRow(callId);
    expect(row.status).toBe('ok');
    expect(row.usageSource).toBe('provider');
    expect(row.inputTokens).toBe(prompt);
    expect(row.outputTokens).toBe(24);
    expect(row.cost).toBe(expectedNanos('gpt-4.1-mini', prompt, 0, 24));
    expect(response.headers.get('x-tollgate-cost-usd')).toBe((row.cost / 1e9).toString());
    expect(row.team).toBe('search');
    expect(row.project).toBe('ranker');
    expect(row.env).toBe('prod');
    expect(row.costCenter).toBe('CC-1');
    expect(row.reserved).toBeGreaterThanOrEqual(row.cost);
  });

  it('streaming with include_usage: the client gets usage, the ledger matches it exactly', async () => {
    const messages = [{ role: 'user' as const, content: 'Stream me a short answer about tollgates.' }];
    const stream = await h.openai(secret).chat.completions.create({
      model: 'custom-priced',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage).not.toBeNull();
    const rows = await h.gateway.services.store.ledger.queryCalls({
      keyId,
      model: 'custom-priced',
      limit: 10,
    });
    await h.gateway.services.ledger.flush();
    const row =
      (await h.gateway.services.store.ledger.queryCalls({ keyId, model: 'custom-priced', limit: 10 }))[0] ??
      rows[0];
    expect(row?.stream).toBe(true);
    expect(row?.usageSource).toBe('provider');
    expect(row?.inputTokens).toBe(usage?.prompt_tokens);
    expect(row?.outputTokens).toBe(usage?.completion_tokens);
    expect(row?.cost).toBe(
      expectedNanos('custom-priced', usage?.prompt_tokens ?? 0, 0, usage?.completion_tokens ?? 0),
    );
  });

  it('streaming without include_usage: the gateway still settles on provider usage and hides the usage chunk', async () => {
    const stream = await h.openai(secret).chat.completions.create({
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    });
    let sawUsage = false;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.usage) sawUsage = true;
      expect(chunk.choices.length).toBeGreaterThan(0);
    }
    expect(chunks).toBeGreaterThan(3);
    expect(sawUsage).toBe(false);
    const forwarded = h.mock.received.at(-1)!;
    expect(
      (forwarded.body as { stream_options?: { include_usage?: boolean } }).stream_options?.include_usage,
    ).toBe(true);
    await h.gateway.services.ledger.flush();
    const [row] = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 1 });
    expect(row?.usageSource).toBe('provider');
    const prompt = mockPromptTokens({
      model: 'gpt-4.1-mini',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(row?.cost).toBe(expectedNanos('gpt-4.1-mini', prompt, 0, 24));
  });

  it('cached and reasoning tokens are priced by kind', async () => {
    const messages = [
      { role: 'user' as const, content: 'A prompt long enough to be partly cached, in theory.' },
    ];
    const prompt = mockPromptTokens({ model: 'gpt-4.1-mini', messages });
    const r = await h
      .openai(secret)
      .chat.completions.create(
        { model: 'gpt-4.1-mini', messages, max_tokens: 50 },
        { headers: { 'x-mock-cached-tokens': '6', 'x-mock-reasoning-tokens': '10' } },
      )
      .withResponse();
    const row = await callRow(r.response.headers.get('x-tollgate-call-id') ?? '');
    expect(row.cacheReadTokens).toBe(6);
    expect(row.inputTokens).toBe(prompt - 6);
    expect(row.reasoningTokens).toBe(10);
    expect(row.cost).toBe(expectedNanos('gpt-4.1-mini', prompt - 6, 6, r.data.usage?.completion_tokens ?? 0));
  });

  it('the upstream sees the provider key and the upstream model name, never the client key or identity headers', async () => {
    await h
      .openai(secret)
      .chat.completions.create(
        { model: 'custom-priced', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 },
        { headers: { 'x-team': 'someone-else', 'x-tollgate-team': 'evil', 'x-project': 'p' } },
      );
    const req = h.mock.received.at(-1)!;
    expect(req.headers.authorization).toBe('Bearer upstream-secret');
    expect((req.body as { model: string }).model).toBe('gpt-4.1-mini');
    expect(req.headers['x-team']).toBeUndefined();
    expect(req.headers['x-tollgate-team']).toBeUndefined();
  });

  it('GET /v1/models lists only what the key may use', async () => {
    const limited = await h.createKey({
      team: 'search',
      project: 'ranker',
      env: 'dev',
      models: ['gpt-4o-mini', 'custom*'],
    });
    const list = await h.openai(limited.secret).models.list();
    expect(list.data.map((m) => m.id).sort()).toEqual(['custom-priced', 'gpt-4o-mini']);
    await expect(
      h
        .openai(limited.secret)
        .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 403, code: 'model_not_allowed' });
  });

  it('a model with no known price is refused, never billed $0', async () => {
    await expect(
      h
        .openai(secret)
        .chat.completions.create({ model: 'unpriced-model', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 400, code: 'model_not_priced' });
  });
});
