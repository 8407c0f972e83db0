/**
 * Words that are each exactly one o200k token with their leading space, and that stay
 * separate tokens when concatenated (the pre-tokenizer splits before each space), so a text
 * of N of them tokenizes to exactly N. mock.test.ts verifies both properties.
 * Plain ASCII letters only, so they can be pasted into JSON without escaping.
 */
export const SINGLE_TOKEN_WORDS: readonly string[] = (
  ' the quick brown fox jumps over lazy dog and a of to in is it that for on with as was at by be' +
  ' this from or an are not but all have had one can were which their if will up out about so what' +
  ' when more time no some'
).split(/(?= )/);

export function mockWord(index: number): string {
  return SINGLE_TOKEN_WORDS[index % SINGLE_TOKEN_WORDS.length]!;
}

const contentCache = new Map<number, string>();
const MAX_CACHED_LENGTH = 8192;

/** The completion text of exactly `tokens` tokens; cached because every response of a length is identical. */
export function mockContent(tokens: number): string {
  const cached = contentCache.get(tokens);
  if (cached !== undefined) return cached;
  let text = '';
  for (let i = 0; i < tokens; i++) text += mockWord(i);
  if (tokens <= MAX_CACHED_LENGTH) contentCache.set(tokens, text);
  return text;
}
