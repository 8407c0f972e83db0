import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { ChatBody } from './types.ts';

/** Framing tokens OpenAI adds around each message, and once to prime the reply. */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;
/** What OpenAI bills a low-detail image; the mock uses it for every image part. */
const IMAGE_TOKENS = 85;

/** Special-token text in a prompt is ordinary text to OpenAI, not an error. */
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/*
 * Benchmarks and tests resend the same prompts, and tokenizing is the mock's only heavy
 * work, so counts are memoized per text. Cleared wholesale when full: simpler than an LRU
 * and just as good for a load of repeated prompts.
 */
const cache = new Map<string, number>();
const CACHE_LIMIT = 10_000;

function tokens(text: unknown): number {
  if (typeof text !== 'string' || text.length === 0) return 0;
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const count = countTokens(text, AS_PLAIN_TEXT);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(text, count);
  return count;
}

function contentTokens(content: unknown): number {
  if (typeof content === 'string') return tokens(content);
  if (!Array.isArray(content)) return 0;
  let sum = 0;
  for (const part of content as unknown[]) {
    if (typeof part !== 'object' || part === null) continue;
    const { type, text } = part as { type?: unknown; text?: unknown };
    if (type === 'text') sum += tokens(text);
    else if (type === 'image_url') sum += IMAGE_TOKENS;
  }
  return sum;
}

function toolCallTokens(toolCalls: unknown): number {
  if (!Array.isArray(toolCalls)) return 0;
  let sum = 0;
  for (const call of toolCalls as unknown[]) {
    if (typeof call !== 'object' || call === null) continue;
    const fn = (call as { function?: unknown }).function;
    if (typeof fn !== 'object' || fn === null) continue;
    const { name, arguments: args } = fn as { name?: unknown; arguments?: unknown };
    sum += tokens(name) + tokens(args);
  }
  return sum;
}

/**
 * The exact prompt_tokens the mock reports for a chat request:
 *   Σ over messages (text parts + 85 per image_url part + tool_call name & arguments + name + 3)
 *   + 3 + tokens(JSON.stringify(tools)) when tools is not null/undefined.
 * Tolerates malformed shapes (counts them as 0) because the server calls it on client input.
 */
export function mockPromptTokens(body: ChatBody): number {
  let sum = REPLY_PRIMING;
  const messages: unknown = body.messages;
  if (Array.isArray(messages)) {
    for (const message of messages as unknown[]) {
      sum += PER_MESSAGE;
      if (typeof message !== 'object' || message === null) continue;
      const m = message as { content?: unknown; name?: unknown; tool_calls?: unknown };
      sum += contentTokens(m.content) + tokens(m.name) + toolCallTokens(m.tool_calls);
    }
  }
  if (body.tools != null) sum += tokens(JSON.stringify(body.tools));
  return sum;
}

/** Token count of an embeddings input item (string, or an already tokenized array). */
export function mockInputTokens(input: unknown): number {
  if (typeof input === 'string') return tokens(input);
  if (Array.isArray(input)) return input.length;
  return 0;
}
