import { describe, expect, it } from 'vitest';
import { usdPerMillionToPico } from '../money.ts';
import { bundledContextWindow, bundledPrices, bundledRawPrices } from './bundled.ts';

const pico = usdPerMillionToPico;

describe('bundledPrices', () => {
  it('has the published OpenAI prices', () => {
    expect(bundledPrices('gpt-4.1', 'openai')).toEqual({
      input: pico('2'),
      output: pico('8'),
      cacheRead: pico('0.5'),
      cacheWrite: pico('2'), // no cache-write price in the data: defaults to input
      reasoning: pico('8'),
    });
    expect(bundledPrices('gpt-4.1-mini', 'openai')).toMatchObject({
      input: pico('0.4'),
      output: pico('1.6'),
      cacheRead: pico('0.1'),
    });
    expect(bundledPrices('gpt-4o-mini', 'openai')).toMatchObject({
      input: pico('0.15'),
      output: pico('0.6'),
      cacheRead: pico('0.075'),
    });
  });

  it('converts USD/Mtok floats to exact integer pico per token', () => {
    // 0.15 $/Mtok = 0.15e-6 $/tok = 150,000 pico/tok; no float noise may leak in.
    expect(bundledPrices('gpt-4o-mini', 'openai')?.input).toBe(150_000);
    expect(bundledPrices('gpt-4o-mini', 'openai')?.cacheRead).toBe(75_000);
  });

  it('has the published Anthropic prices, including cache writes', () => {
    const expected = {
      input: pico('3'),
      output: pico('15'),
      cacheRead: pico('0.3'),
      cacheWrite: pico('3.75'),
      reasoning: pico('15'),
    };
    expect(bundledPrices('claude-sonnet-4-20250514', 'anthropic')).toEqual(expected);
    expect(bundledPrices('claude-sonnet-4-0', 'anthropic')).toEqual(expected);
  });

  it('uses the base tier of tiered prices', () => {
    // claude-sonnet-4-5 doubles input above 200k prompt tokens; the base is $3/M.
    expect(bundledPrices('claude-sonnet-4-5', 'anthropic')).toMatchObject({
      input: pico('3'),
      output: pico('15'),
    });
  });

  it('resolves start-date price changes as of now', () => {
    // o3 was cut from $10/$40 to $2/$8 on 2025-06-10.
    expect(bundledRawPrices('o3', 'openai', new Date('2025-06-01T00:00:00Z'))).toMatchObject({
      input: pico('10'),
      output: pico('40'),
    });
    expect(bundledRawPrices('o3', 'openai', new Date('2025-07-01T00:00:00Z'))).toMatchObject({
      input: pico('2'),
      output: pico('8'),
    });
  });

  it('bills the peak price of time-of-day discounts, whatever the hour', () => {
    // deepseek-chat: $0.27/$1.10 in 00:30-16:30 UTC, half price otherwise.
    for (const hour of ['03', '20']) {
      expect(
        bundledRawPrices('deepseek-chat', 'deepseek', new Date(`2025-03-01T${hour}:00:00Z`)),
      ).toMatchObject({
        input: pico('0.27'),
        output: pico('1.1'),
      });
    }
  });

  it('returns undefined for unknown models and providers', () => {
    expect(bundledPrices('no-such-model-xyz', 'openai')).toBeUndefined();
    expect(bundledPrices('gpt-4.1', 'no-such-provider')).toBeUndefined();
  });
});

describe('bundledContextWindow', () => {
  it('reads the context window when the data has it', () => {
    expect(bundledContextWindow('gpt-4.1', 'openai')).toBe(1_000_000);
    expect(bundledContextWindow('gpt-4o-mini', 'openai')).toBe(128_000);
    expect(bundledContextWindow('no-such-model-xyz', 'openai')).toBeUndefined();
  });
});
