import { describe, expect, it } from 'vitest';
import { costNanos } from '../../pricing/cost.ts';
import type { ModelPrices } from '../../pricing/types.ts';
import { apportion, type PriceLookup, splitCall } from './split.ts';
import { call, MINI_PRICES } from './testCalls.ts';

const mini: PriceLookup = (model) => (model === 'gpt-4.1-mini' ? MINI_PRICES : undefined);

describe('apportion', () => {
  it('splits proportionally and gives the remainder to the heaviest weight', () => {
    expect(apportion(10n, [1n, 1n, 1n])).toEqual([4n, 3n, 3n]);
    expect(apportion(10n, [1n, 2n, 1n])).toEqual([2n, 6n, 2n]);
    expect(apportion(7n, [0n, 5n])).toEqual([0n, 7n]);
  });
  it('refuses all-zero weights', () => {
    expect(() => apportion(5n, [0n, 0n])).toThrow(RangeError);
  });
});

describe('splitCall', () => {
  it('splits by list cost when the price table reproduces the row cost; lines sum to the cost', () => {
    const usage = {
      inputTokens: 1000,
      outputTokens: 300,
      cacheReadTokens: 200,
      cacheWriteTokens: 0,
      reasoningTokens: 100,
    };
    const cost = costNanos(usage, MINI_PRICES); // 400,000 + 20,000 + 320,000 + 160,000 nanos
    expect(cost).toBe(900_000);
    const lines = splitCall(call({ ...usage, cost }), mini);
    expect(lines.map((l) => [l.kind, l.tokens, l.nanos, l.unitPico])).toEqual([
      ['input', 1000, 400_000, 400_000],
      ['cache_read', 200, 20_000, 100_000],
      ['output', 200, 320_000, 1_600_000],
      ['reasoning', 100, 160_000, 1_600_000],
    ]);
    expect(lines.reduce((s, l) => s + l.nanos, 0)).toBe(cost);
  });

  it('rounds per line down and hands the rounded-up nano to the heaviest line', () => {
    // 3 input tokens at 400 pico + 1 output at 1,600 pico = 2,800 pico -> 3 nanos (rounded up once).
    const cheap: ModelPrices = { ...MINI_PRICES, input: 400, output: 1600 };
    const lines = splitCall(call({ inputTokens: 3, outputTokens: 1, cost: 3 }), () => cheap);
    expect(lines.map((l) => [l.kind, l.nanos])).toEqual([
      ['input', 1],
      ['output', 2],
    ]);
  });

  it('falls back to token weights without a price, and claims no unit price', () => {
    const lines = splitCall(
      call({ modelUsed: 'unknown', inputTokens: 30, outputTokens: 10, cost: 1001 }),
      mini,
    );
    expect(lines.map((l) => [l.kind, l.tokens, l.nanos, l.unitPico])).toEqual([
      ['input', 30, 751, null],
      ['output', 10, 250, null],
    ]);
  });

  it('falls back to token weights when today’s prices do not reproduce the cost (prices changed)', () => {
    const lines = splitCall(call({ inputTokens: 1000, outputTokens: 1000, cost: 5 }), mini);
    expect(lines.map((l) => [l.kind, l.nanos, l.unitPico])).toEqual([
      ['input', 3, null],
      ['output', 2, null],
    ]);
  });

  it('bills a crashed call settled at its reservation as one reserved line', () => {
    const lines = splitCall(call({ status: 'orphaned', cost: 777, reservedTokens: 512 }), mini);
    expect(lines).toEqual([{ kind: 'reserved', tokens: 512, nanos: 777, unitPico: null, tierAbove: null }]);
  });

  it('names the long-context tier the call was priced in', () => {
    const tiered: ModelPrices = {
      ...MINI_PRICES,
      tiers: [{ aboveInputTokens: 100, prices: { ...MINI_PRICES, input: 800_000 } }],
    };
    const usage = {
      inputTokens: 200,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    };
    const cost = costNanos(usage, tiered);
    expect(cost).toBe(160_000);
    const [line] = splitCall(call({ ...usage, cost }), () => tiered);
    expect(line).toEqual({ kind: 'input', tokens: 200, nanos: 160_000, unitPico: 800_000, tierAbove: 100 });
  });

  it('a $0 row with no tokens has no lines', () => {
    expect(splitCall(call({ status: 'denied', httpStatus: 429 }), mini)).toEqual([]);
  });
});
