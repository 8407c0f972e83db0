import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_GEMINI_API_KEY } from '../../src/mock/gemini/index.ts';
import { type MockServer, startMock } from '../../src/mock/index.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** Gemini 2.5 Pro's published prices, pico-USD per token: base up to 200k input tokens, then the long-context tier. */
const BASE = { input: 1_250_000, output: 10_000_000 };
const LONG = { input: 2_500_000, output: 15_000_000 };

let upstream: MockServer;
let h: Harness;
let secret: string;
let keyId: string;

beforeAll(async () => {
  upstream = await startMock({ outputTokens: 20 });
  h = await startHarness({
    config: {
      server: { port: 0, master_key: 'test-master-key-0123456789', max_body_bytes: 8 * 1024 * 1024 },
      providers: { gemini: { kind: 'gemini', base_url: upstream.url, api_key: MOCK_GEMINI_API_KEY } },
      models: [{ id: 'gemini-2.5-pro', provider: 'gemini', max_output_tokens: 8192 }],
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

async function call(words: number) {
  const { response } = await h
    .openai(secret)
    .chat.completions.create({
      model: 'gemini-2.5-pro',
      messages: [{ role: 'user', content: ' the'.repeat(words) }],
      max_tokens: 20,
    })
    .withResponse();
  await h.gateway.services.ledger.flush();
  const rows = await h.gateway.services.store.ledger.queryCalls({ keyId, limit: 10 });
  const row = rows.find((r) => r.callId === response.headers.get('x-tollgate-call-id'));
  if (!row) throw new Error('no row');
  return row;
}

describe('long-context tiers through the real server', () => {
  it('a short prompt is billed at the base tier, a >200k prompt at the long-context tier for every token', async () => {
    const short = await call(1000);
    expect(short.cost).toBe(
      Math.ceil((short.inputTokens * BASE.input + short.outputTokens * BASE.output) / 1000),
    );
    const long = await call(210_000);
    expect(long.inputTokens).toBeGreaterThan(200_000);
    expect(long.cost).toBe(
      Math.ceil((long.inputTokens * LONG.input + long.outputTokens * LONG.output) / 1000),
    );
    expect(long.cost).toBeLessThanOrEqual(long.reserved);
  });
});
