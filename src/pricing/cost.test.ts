import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { usdPerMillionToPico } from '../money.ts';
import { costNanos, maxAffordableOutputTokens, worstCaseNanos } from './cost.ts';
import type { ModelPrices, Usage } from './types.ts';

const pico = usdPerMillionToPico;

// gpt-4.1: $2/M input, $0.5/M cached, $8/M output.
const gpt41: ModelPrices = {
  input: pico('2'),
  output: pico('8'),
  cacheRead: pico('0.5'),
  cacheWrite: pico('2'),
  reasoning: pico('8'),
};

function usage(partial: Partial<Usage>): Usage {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    ...partial,
  };
}

describe('costNanos', () => {
  it('prices each token kind', () => {
    // 1000*2e6 + 2000*0.5e6 + 500*8e6 pico = 7e9 pico = $0.007
    expect(costNanos(usage({ inputTokens: 1000, cacheReadTokens: 2000, outputTokens: 500 }), gpt41)).toBe(
      7_000_000,
    );
    // Anthropic cache write: 1000 tokens at $3.75/M = $0.00375
    const sonnet = { ...gpt41, input: pico('3'), cacheWrite: pico('3.75') };
    expect(costNanos(usage({ cacheWriteTokens: 1000 }), sonnet)).toBe(3_750_000);
  });

  it('bills reasoning tokens once, as part of output', () => {
    const u = usage({ inputTokens: 10, outputTokens: 100, reasoningTokens: 60 });
    expect(costNanos(u, gpt41)).toBe(costNanos(usage({ inputTokens: 10, outputTokens: 100 }), gpt41));
    expect(costNanos(u, gpt41)).toBe((10 * 2_000_000 + 100 * 8_000_000) / 1000);
  });

  it('bills reasoning at its own price when the model has one', () => {
    const p = { ...gpt41, reasoning: pico('10') };
    const u = usage({ outputTokens: 100, reasoningTokens: 40 });
    expect(costNanos(u, p)).toBe((60 * 8_000_000 + 40 * 10_000_000) / 1000);
    // More reasoning than output is bad data: never bill more tokens than were output.
    expect(costNanos(usage({ outputTokens: 10, reasoningTokens: 50 }), p)).toBe(10 * 10_000);
  });

  it('rounds the total up to a whole nano, once', () => {
    const p = { ...gpt41, input: pico('0.0375') }; // 37,500 pico = 37.5 nanos per token
    expect(costNanos(usage({ inputTokens: 1 }), p)).toBe(38);
    expect(costNanos(usage({ inputTokens: 2 }), p)).toBe(75);
    expect(costNanos(usage({}), p)).toBe(0);
  });

  it('is exact past 2^53 pico', () => {
    const p = { ...gpt41, input: 150_000_003 };
    // 100,000,001 * 150,000,003 = 15,000,000,450,000,003 pico; float math would drop the tail.
    expect(costNanos(usage({ inputTokens: 100_000_001 }), p)).toBe(15_000_000_450_001);
  });

  it('never throws on odd token counts', () => {
    const u = usage({ inputTokens: Number.NaN, outputTokens: -5, cacheReadTokens: 1.5 });
    expect(costNanos(u, gpt41)).toBe((2 * 500_000) / 1000);
  });
});

describe('worstCaseNanos', () => {
  it('prices input at the dearest input-side price and output at the dearer output price', () => {
    const p: ModelPrices = {
      input: 3_000_000,
      output: 15_000_000,
      cacheRead: 300_000,
      cacheWrite: 3_750_000,
      reasoning: 0,
    };
    expect(worstCaseNanos(1000, 100, p)).toBe((1000 * 3_750_000 + 100 * 15_000_000) / 1000);
    expect(worstCaseNanos(1, 0, { ...p, cacheWrite: 1_500 })).toBe(3_000);
  });

  it('prices an infinite token count as unaffordable, never as free', () => {
    expect(worstCaseNanos(0, Number.POSITIVE_INFINITY, gpt41)).toBeGreaterThan(1e15);
  });
});

describe('maxAffordableOutputTokens', () => {
  it('gives the largest output that fits the budget', () => {
    // 1000 input tokens = 2,000,000 nanos; each output token 8,000 nanos.
    expect(maxAffordableOutputTokens(10_000_000, 1000, gpt41)).toBe(1000);
    expect(maxAffordableOutputTokens(10_007_999, 1000, gpt41)).toBe(1000);
    expect(maxAffordableOutputTokens(10_008_000, 1000, gpt41)).toBe(1001);
  });

  it('is 0 when the input alone does not fit', () => {
    expect(maxAffordableOutputTokens(1_999_999, 1000, gpt41)).toBe(0);
    expect(maxAffordableOutputTokens(0, 0, gpt41)).toBe(0);
    expect(maxAffordableOutputTokens(-5, 0, gpt41)).toBe(0);
  });

  it('is unbounded when output is free', () => {
    const p = { ...gpt41, output: 0, reasoning: 0 };
    expect(maxAffordableOutputTokens(2_000_000, 1000, p)).toBe(Number.MAX_SAFE_INTEGER);
    expect(maxAffordableOutputTokens(1_999_999, 1000, p)).toBe(0);
  });
});

const priceArb = fc.integer({ min: 0, max: 1_000_000_000 }); // up to $1,000 per Mtok
const pricesArb: fc.Arbitrary<ModelPrices> = fc.record({
  input: priceArb,
  output: priceArb,
  cacheRead: priceArb,
  cacheWrite: priceArb,
  reasoning: priceArb,
});
const countArb = fc.integer({ min: 0, max: 20_000_000 });

describe('properties', () => {
  it('costNanos <= worstCaseNanos for every usage within the reserved token counts', () => {
    fc.assert(
      fc.property(
        pricesArb,
        fc.record({ plain: countArb, read: countArb, write: countArb, unused: countArb }),
        fc.record({ output: countArb, reasoning: countArb, unused: countArb }),
        (p, input, out) => {
          const u = usage({
            inputTokens: input.plain,
            cacheReadTokens: input.read,
            cacheWriteTokens: input.write,
            outputTokens: out.output,
            reasoningTokens: Math.min(out.reasoning, out.output),
          });
          // The reservation covered at least these counts, maybe more.
          const reservedInput = input.plain + input.read + input.write + input.unused;
          const reservedOutput = out.output + out.unused;
          expect(costNanos(u, p)).toBeLessThanOrEqual(worstCaseNanos(reservedInput, reservedOutput, p));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('costNanos never rounds below the exact cost', () => {
    fc.assert(
      fc.property(pricesArb, countArb, countArb, countArb, (p, i, r, o) => {
        const exactPico =
          BigInt(i) * BigInt(p.input) + BigInt(r) * BigInt(p.cacheRead) + BigInt(o) * BigInt(p.output);
        const nanos = BigInt(costNanos(usage({ inputTokens: i, cacheReadTokens: r, outputTokens: o }), p));
        expect(nanos * 1000n >= exactPico).toBe(true);
        expect(nanos * 1000n - exactPico < 1000n).toBe(true);
      }),
    );
  });

  it('maxAffordableOutputTokens is consistent with worstCaseNanos', () => {
    fc.assert(
      fc.property(
        pricesArb,
        fc.integer({ min: 0, max: 10_000_000_000_000 }),
        countArb,
        (p, budget, inputTokens) => {
          const k = maxAffordableOutputTokens(budget, inputTokens, p);
          if (worstCaseNanos(inputTokens, 0, p) > budget) {
            expect(k).toBe(0);
            return;
          }
          expect(worstCaseNanos(inputTokens, k, p)).toBeLessThanOrEqual(budget);
          if (Math.max(p.output, p.reasoning) > 0) {
            expect(worstCaseNanos(inputTokens, k + 1, p)).toBeGreaterThan(budget);
          } else {
            expect(k).toBe(Number.MAX_SAFE_INTEGER);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
