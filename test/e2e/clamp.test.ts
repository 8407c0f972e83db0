import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../helpers/harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    mock: { outputTokens: 100_000 },
    config: {
      budgets: [
        // gpt-4.1 output is $8/M: $0.01 buys 1,250 output tokens, far below the model's 32,768 max.
        { id: 'search-clamped', match: { team: 'search' }, limit: { usd: 0.01 }, clamp: true },
        { id: 'support-strict', match: { team: 'support' }, limit: { usd: 0.01 }, clamp: false },
      ],
    },
  });
});
afterAll(async () => h.close());

describe('clamping max output tokens to what a budget can still afford', () => {
  it('a call without max_tokens is clamped so it cannot exceed the remaining budget', async () => {
    const k = await h.createKey({ team: 'search', project: 'ranker', env: 'prod' });
    const { data, response } = await h
      .openai(k.secret)
      .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'write a lot' }] })
      .withResponse();
    const clamped = Number(response.headers.get('x-tollgate-max-tokens-clamped'));
    expect(clamped).toBeGreaterThan(1000);
    expect(clamped).toBeLessThan(1250);
    expect((h.mock.received.at(-1)?.body as { max_tokens?: number } | undefined)?.max_tokens).toBe(clamped);
    expect(data.usage?.completion_tokens).toBe(clamped);
    expect(data.choices[0]?.finish_reason).toBe('length');
    const b = await h.admin<{ spent: { nanos: number }; reserved: { nanos: number } }>(
      'GET',
      '/admin/v1/budgets/search-clamped',
    );
    expect(b.body.spent.nanos).toBeLessThanOrEqual(10_000_000);
    expect(b.body.spent.nanos).toBeGreaterThan(9_900_000);
    expect(b.body.reserved.nanos).toBe(0);
    // Nothing useful is left: the next call is denied, not clamped to a handful of tokens.
    await expect(
      h
        .openai(k.secret)
        .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'more' }] }),
    ).rejects.toMatchObject({ status: 429, code: 'budget_exceeded' });
  });

  it('a budget with clamp: false denies instead', async () => {
    const k = await h.createKey({ team: 'support', project: 'bot', env: 'prod' });
    const err = await h
      .openai(k.secret)
      .chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'write a lot' }] })
      .catch((e: { status: number; headers: Headers }) => e);
    expect(err).toMatchObject({ status: 429 });
    expect((err as { headers: Headers }).headers.get('x-budget-exceeded')).toBe('support-strict');
  });
});
