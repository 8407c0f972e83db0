import { Buffer } from 'node:buffer';
import { countTokens } from 'gpt-tokenizer';

/**
 * Token counts for the reservation. Every function here returns an UPPER BOUND of the
 * o200k_base count, and stays cheap on the request path:
 *
 * - A byte-level BPE token is at least one UTF-8 byte, so a text's byte length bounds its
 *   token count. Texts too big to tokenize cheaply are counted by bytes.
 * - gpt-tokenizer's merge loop is superlinear in the length of one pre-tokenizer chunk
 *   (64 KiB of spaces or of one letter takes seconds, 512 chars under a millisecond),
 *   so a text with one very long run of letters, whitespace or punctuation is counted
 *   by bytes too. Real prose and code never have such runs; adversarial input does.
 */

export const DEFAULT_MAX_TOKENIZE_BYTES = 64 * 1024;

/** Runs at least this long (in UTF-16 units) are where BPE cost starts to blow up. */
const LONG_RUN = 512;

/*
 * One regex per o200k pre-tokenizer chunk kind that can grow without bound: letters
 * (with marks), punctuation/symbols (which include marks), whitespace. Digits are split in
 * groups of three by the pre-tokenizer. The negative lookbehind makes a match start only at
 * the beginning of a run, so each scan is linear instead of quadratic in the run length.
 */
const LONG_RUNS: readonly RegExp[] = [
  new RegExp(`(?<![\\p{L}\\p{M}])[\\p{L}\\p{M}]{${LONG_RUN}}`, 'u'),
  new RegExp(`(?<![^\\s\\p{L}\\p{N}])[^\\s\\p{L}\\p{N}]{${LONG_RUN}}`, 'u'),
  new RegExp(`(?<!\\s)\\s{${LONG_RUN}}`, 'u'),
];

/** Special tokens such as "<|endoftext|>" in user text are ordinary text, not an error. */
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function utf8ByteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** o200k token count of a text, or its UTF-8 byte length when tokenizing it would be slow. */
export function countTextTokens(text: string, maxTokenizeBytes: number = DEFAULT_MAX_TOKENIZE_BYTES): number {
  if (text.length === 0) return 0;
  const bytes = utf8ByteLength(text);
  return bytes > maxTokenizeBytes ? bytes : tokensOrBytes(text, bytes);
}

/**
 * A counter for one request: like countTextTokens, but once `requestBytes` of text have
 * been tokenized the rest is counted by bytes, so a body of many mid-sized texts cannot
 * make the estimate cost more than one large text does.
 */
export function requestTokenCounter(
  requestBytes: number,
  maxTokenizeBytes: number = DEFAULT_MAX_TOKENIZE_BYTES,
): (text: string) => number {
  let left = requestBytes;
  return (text) => {
    if (text.length === 0) return 0;
    const bytes = utf8ByteLength(text);
    if (bytes > maxTokenizeBytes || bytes > left) return bytes;
    left -= bytes;
    return tokensOrBytes(text, bytes);
  };
}

function tokensOrBytes(text: string, bytes: number): number {
  if (text.length >= LONG_RUN && LONG_RUNS.some((re) => re.test(text))) return bytes;
  return countTokens(text, AS_PLAIN_TEXT);
}
