import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxOutputTokens, setMaxOutputTokens } from './output.ts';

describe('maxOutputTokens', () => {
  it('prefers max_completion_tokens, then max_tokens, then the model limit', () => {
    expect(maxOutputTokens({ max_completion_tokens: 100, max_tokens: 50 }, 4096)).toEqual({
      tokens: 100,
      source: 'max_completion_tokens',
    });
    expect(maxOutputTokens({ max_tokens: 50 }, 4096)).toEqual({ tokens: 50, source: 'max_tokens' });
    expect(maxOutputTokens({ max_tokens: null }, 4096)).toEqual({ tokens: 4096, source: 'model_limit' });
    expect(maxOutputTokens({}, 4096)).toEqual({ tokens: 4096, source: 'model_limit' });
  });

  it('caps at the model limit', () => {
    expect(maxOutputTokens({ max_tokens: 100_000 }, 4096)).toEqual({ tokens: 4096, source: 'model_limit' });
  });

  it('multiplies by n choices', () => {
    expect(maxOutputTokens({ max_tokens: 100, n: 3 }, 4096).tokens).toBe(300);
    expect(maxOutputTokens({ n: 2 }, 4096).tokens).toBe(8192);
    expect(maxOutputTokens({ max_tokens: 100, n: 0 }, 4096).tokens).toBe(100);
    expect(maxOutputTokens({ max_tokens: 100, n: 'x' }, 4096).tokens).toBe(100);
  });

  it('assumes the model limit when a cap is malformed, never something lower', () => {
    expect(maxOutputTokens({ max_tokens: '10' }, 4096)).toEqual({ tokens: 4096, source: 'model_limit' });
    expect(maxOutputTokens({ max_completion_tokens: -1, max_tokens: 10 }, 4096).tokens).toBe(4096);
    expect(maxOutputTokens({ max_tokens: 10.5 }, 4096).tokens).toBe(11);
    expect(maxOutputTokens(null, 4096)).toEqual({ tokens: 4096, source: 'model_limit' });
  });

  it('never overflows to Infinity', () => {
    expect(maxOutputTokens({ n: 1e308 }, 4096).tokens).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('setMaxOutputTokens', () => {
  it('writes max_tokens when the client set no cap', () => {
    const body: Record<string, unknown> = { messages: [] };
    setMaxOutputTokens(body, 500);
    expect(body).toEqual({ messages: [], max_tokens: 500 });
  });

  it('writes the field the client used', () => {
    const body: Record<string, unknown> = { max_completion_tokens: 4000 };
    setMaxOutputTokens(body, 500);
    expect(body).toEqual({ max_completion_tokens: 500 });
    const both: Record<string, unknown> = { max_completion_tokens: 4000, max_tokens: 3000 };
    setMaxOutputTokens(both, 500);
    expect(both).toEqual({ max_completion_tokens: 500, max_tokens: 500 });
  });

  it('splits the allowance across n choices', () => {
    const body: Record<string, unknown> = { n: 3, max_tokens: 1000 };
    setMaxOutputTokens(body, 500);
    expect(body.max_tokens).toBe(166);
  });

  it('never raises a smaller cap the client asked for', () => {
    const body: Record<string, unknown> = { max_tokens: 100 };
    setMaxOutputTokens(body, 500);
    expect(body.max_tokens).toBe(100);
  });

  it('caps the reply so maxOutputTokens of the rewritten body fits the allowance', () => {
    const cap = fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({
          max_tokens: cap,
          max_completion_tokens: cap,
          n: fc.option(fc.integer({ min: 1, max: 8 })),
        }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 300_000 }),
        (fields, limit, allowance) => {
          const body: Record<string, unknown> = { ...fields };
          const before = maxOutputTokens(body, limit).tokens;
          setMaxOutputTokens(body, allowance);
          const after = maxOutputTokens(body, limit).tokens;
          expect(after).toBeLessThanOrEqual(Math.max(allowance, 0));
          expect(after).toBeLessThanOrEqual(before);
        },
      ),
    );
  });
});
