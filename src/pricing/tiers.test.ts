import { describe, expect, it } from 'vitest';
import { costNanos, maxAffordableOutputTokens, worstCaseNanos } from './cost.ts';
import { buildPriceTable } from './priceTable.ts';
import type { ModelPrices, Usage } from './types.ts';

const usage = (input: number, output: number, cacheRead = 0): Usage => ({
  inputTokens: input,
  outputTokens: output,
  cacheReadTokens: cacheRead,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
});

describe('long-context price tiers', () => {
  const table = buildPriceTable([
    { id: 'pro', provider: 'google', upstreamModel: 'gemini-2.5-pro' },
    { id: 'pro-flat', provider: 'google', upstreamModel: 'gemini-2.5-pro', prices: { input: 1, output: 2 } },
  ]);
  const pro = table.get('pro') as ModelPrices;

  it('bundled tiers: Gemini 2.5 Pro costs $1.25/$10 up to 200k input tokens, $2.50/$15 above', () => {
    expect(pro.input).toBe(1_250_000);
    expect(pro.output).toBe(10_000_000);
    expect(pro.tiers).toEqual([
      {
        aboveInputTokens: 200_000,
        prices: expect.objectContaining({ input: 2_500_000, output: 15_000_000, cacheRead: 250_000 }),
      },
    ]);
  });

  it('the tier is chosen by all input-side tokens, and prices every token of the call', () => {
    // 200,000 exactly stays in the base tier (the threshold is "above").
    expect(costNanos(usage(200_000, 1000), pro)).toBe(
      Math.ceil((200_000 * 1_250_000 + 1000 * 10_000_000) / 1000),
    );
    // 150k plain + 60k cached = 210k input-side tokens: the upper tier, for all of them.
    expect(costNanos(usage(150_000, 1000, 60_000), pro)).toBe(
      Math.ceil((150_000 * 2_500_000 + 60_000 * 250_000 + 1000 * 15_000_000) / 1000),
    );
  });

  it('the worst case uses the tier the estimate reaches, and bounds every cost below it', () => {
    expect(worstCaseNanos(100_000, 1000, pro)).toBe(
      Math.ceil((100_000 * 1_250_000 + 1000 * 10_000_000) / 1000),
    );
    expect(worstCaseNanos(250_000, 1000, pro)).toBe(
      Math.ceil((250_000 * 2_500_000 + 1000 * 15_000_000) / 1000),
    );
    for (const input of [1, 199_999, 200_000, 200_001, 249_999, 250_000]) {
      expect(costNanos(usage(input, 1000), pro)).toBeLessThanOrEqual(worstCaseNanos(250_000, 1000, pro));
    }
    const budget = worstCaseNanos(250_000, 1000, pro);
    expect(maxAffordableOutputTokens(budget, 250_000, pro)).toBe(1000);
  });

  it('a config price makes the model flat (no bundled tiers)', () => {
    expect(table.get('pro-flat')?.tiers).toBeUndefined();
  });
});
