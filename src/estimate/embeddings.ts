import { isRecord } from '../json.ts';
import { withMargin } from './chat.ts';
import { DEFAULT_MAX_TOKENIZE_BYTES, requestTokenCounter } from './tokens.ts';

/** Text tokenized per embeddings request before counting by bytes (batches can be large). */
const REQUEST_TOKENIZE_BYTES = 256 * 1024;

/**
 * Input-token estimate of an OpenAI embeddings body: an UPPER BOUND of prompt_tokens.
 * `input` is a string, an array of strings, a token array or an array of token arrays;
 * a token array costs its length. Same margin as chat, for tokenizer drift. Never throws.
 */
export function estimateEmbeddingsInputTokens(body: unknown): number {
  const count = requestTokenCounter(REQUEST_TOKENIZE_BYTES, DEFAULT_MAX_TOKENIZE_BYTES);
  const input = isRecord(body) ? body.input : body;
  return withMargin(inputTokens(input, count, true));
}

function inputTokens(input: unknown, count: (text: string) => number, top: boolean): number {
  if (typeof input === 'string') return count(input);
  if (typeof input === 'number') return 1;
  if (Array.isArray(input)) {
    let total = 0;
    // One level of nesting: a batch of strings or of token arrays.
    for (const item of input) total += top ? inputTokens(item, count, false) : itemTokens(item, count);
    return total;
  }
  return itemTokens(input, count);
}

function itemTokens(item: unknown, count: (text: string) => number): number {
  if (typeof item === 'string') return count(item);
  if (typeof item === 'number') return 1;
  if (item === undefined || item === null) return 0;
  try {
    return count(JSON.stringify(item) ?? '');
  } catch {
    return count(String(item));
  }
}
