import { describe, expect, it } from 'vitest';
import { usdPerMillionToPico } from '../money.ts';
import { buildPriceTable } from './priceTable.ts';

const pico = usdPerMillionToPico;

describe('buildPriceTable', () => {
  it('uses bundled prices when config has none', () => {
    const table = buildPriceTable([{ id: 'fast', provider: 'openai', upstreamModel: 'gpt-4.1-mini' }]);
    expect(table.get('fast')).toMatchObject({ input: pico('0.4'), output: pico('1.6') });
    expect(table.source('fast')).toBe('bundled');
  });

  it('lets config win field by field and keeps the other bundled fields', () => {
    const table = buildPriceTable([
      { id: 'm', provider: 'openai', upstreamModel: 'gpt-4.1', prices: { output: '7.5', cache_write: 1 } },
    ]);
    expect(table.get('m')).toEqual({
      input: pico('2'),
      output: pico('7.5'),
      cacheRead: pico('0.5'),
      cacheWrite: pico('1'),
      reasoning: pico('7.5'), // defaults to the overridden output price
    });
    expect(table.source('m')).toBe('override+bundled');
  });

  it('applies defaults after the merge, so an input override moves defaulted cache writes too', () => {
    const table = buildPriceTable([
      { id: 'm', provider: 'openai', upstreamModel: 'gpt-4.1', prices: { input: 3 } },
    ]);
    expect(table.get('m')).toMatchObject({ input: pico('3'), cacheWrite: pico('3'), cacheRead: pico('0.5') });
  });

  it('prices a model unknown to the bundled data from config alone', () => {
    const table = buildPriceTable([
      {
        id: 'local',
        provider: 'vllm',
        upstreamModel: 'my-finetune',
        prices: { input: '0.0375', output: 0.15 },
      },
    ]);
    expect(table.get('local')).toEqual({
      input: 37_500,
      output: 150_000,
      cacheRead: 37_500,
      cacheWrite: 37_500,
      reasoning: 150_000,
    });
    expect(table.source('local')).toBe('config');
  });

  it('reports config as the source when config sets every field', () => {
    const table = buildPriceTable([
      {
        id: 'm',
        provider: 'openai',
        upstreamModel: 'gpt-4.1',
        prices: { input: 1, output: 2, cache_read: 0.1, cache_write: 1, reasoning: 2 },
      },
    ]);
    expect(table.source('m')).toBe('config');
  });

  it('accepts an explicit zero price (free) but never invents one', () => {
    const table = buildPriceTable([
      { id: 'free', provider: 'x', upstreamModel: 'x', prices: { input: 0, output: 0 } },
      { id: 'half', provider: 'x', upstreamModel: 'x', prices: { input: 1 } },
      { id: 'none', provider: 'x', upstreamModel: 'x' },
    ]);
    expect(table.get('free')).toMatchObject({ input: 0, output: 0 });
    expect(table.get('half')).toBeUndefined();
    expect(table.source('half')).toBe('none');
    expect(table.get('none')).toBeUndefined();
    expect(table.source('none')).toBe('none');
    expect(table.get('never-configured')).toBeUndefined();
    expect(table.source('never-configured')).toBe('none');
  });

  it('refuses invalid prices and duplicate ids at build time, naming the model', () => {
    expect(() =>
      buildPriceTable([{ id: 'bad', provider: 'x', upstreamModel: 'x', prices: { input: '-1' } }]),
    ).toThrow(/model bad: invalid price input/);
    expect(() =>
      buildPriceTable([{ id: 'bad', provider: 'x', upstreamModel: 'x', prices: { output: 'abc' } }]),
    ).toThrow(/bad/);
    const dup = { id: 'd', provider: 'openai', upstreamModel: 'gpt-4.1' };
    expect(() => buildPriceTable([dup, dup])).toThrow(/duplicate/);
  });

  it('returns frozen prices so no caller can reprice a model at runtime', () => {
    const table = buildPriceTable([{ id: 'fast', provider: 'openai', upstreamModel: 'gpt-4.1-mini' }]);
    expect(Object.isFrozen(table.get('fast'))).toBe(true);
  });
});
