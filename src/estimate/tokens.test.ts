import fc from 'fast-check';
import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countTextTokens, requestTokenCounter, utf8ByteLength } from './tokens.ts';

const tok = (text: string): number => countTokens(text, { disallowedSpecial: new Set<string>() });

describe('countTextTokens', () => {
  it('is the o200k count for ordinary text', () => {
    expect(countTextTokens('')).toBe(0);
    expect(countTextTokens('Hello, world!')).toBe(tok('Hello, world!'));
    expect(countTextTokens('日本語のテキスト')).toBe(tok('日本語のテキスト'));
  });

  it('counts special tokens as plain text instead of throwing', () => {
    expect(countTextTokens('<|endoftext|>')).toBe(tok('<|endoftext|>'));
  });

  it('is the UTF-8 byte length above the threshold', () => {
    const text = 'é'.repeat(40_000); // 80,000 bytes
    expect(countTextTokens(text)).toBe(80_000);
    expect(countTextTokens('hello world', 5)).toBe(11);
  });

  it('counts pathological runs by bytes, fast', () => {
    for (const text of [' '.repeat(60_000), 'a'.repeat(60_000), '-'.repeat(60_000)]) {
      const started = performance.now();
      expect(countTextTokens(text)).toBe(60_000);
      expect(performance.now() - started).toBeLessThan(50);
    }
  });

  it('is an upper bound of the o200k count for any text', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 2000 }),
      fc.string({ unit: 'grapheme', maxLength: 1000 }),
      fc.string({ unit: 'binary', maxLength: 1000 }),
      fc.array(fc.constantFrom(' ', 'a', '-', '\n', 'ü', '日'), { maxLength: 1500 }).map((xs) => xs.join('')),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 5000 }), (t, threshold) => {
        expect(countTextTokens(t, threshold)).toBeGreaterThanOrEqual(tok(t));
        expect(countTextTokens(t, threshold)).toBeLessThanOrEqual(Math.max(tok(t), utf8ByteLength(t)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('requestTokenCounter', () => {
  it('tokenizes up to the request budget, then counts bytes', () => {
    const count = requestTokenCounter(30);
    const text = 'hello world hello world'; // 23 bytes
    expect(count(text)).toBe(tok(text));
    expect(count(text)).toBe(23); // only 7 bytes of budget left
  });
});
