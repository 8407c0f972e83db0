import { tokenCount } from '../../json.ts';
import type { Usage } from '../../pricing/types.ts';

/**
 * Gemini's usageMetadata → Tollgate usage.
 *
 * - promptTokenCount INCLUDES cachedContentTokenCount, so uncached input = prompt − cached.
 * - toolUsePromptTokenCount (results of built-in tools fed back to the model) is prompt the
 *   model read but is not in promptTokenCount: it is billed as input too.
 * - thoughtsTokenCount is NOT in candidatesTokenCount, yet Google bills thinking as output:
 *   output = candidates + thoughts, with the thoughts shown again as reasoningTokens.
 */
export function usageFromGemini(raw: unknown): Usage | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const u = raw as Record<string, unknown>;
  if (typeof u.promptTokenCount !== 'number' && typeof u.candidatesTokenCount !== 'number') return null;
  const prompt = tokenCount(u.promptTokenCount);
  const cached = Math.min(tokenCount(u.cachedContentTokenCount), prompt);
  const thoughts = tokenCount(u.thoughtsTokenCount);
  return {
    inputTokens: prompt - cached + tokenCount(u.toolUsePromptTokenCount),
    outputTokens: tokenCount(u.candidatesTokenCount) + thoughts,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    reasoningTokens: thoughts,
  };
}

/** Tollgate usage in the canonical (OpenAI) shape: prompt includes cached, completion includes reasoning. */
export function openAiUsageOf(u: Usage): Record<string, unknown> {
  const prompt = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

/** Reasons Gemini stops because a filter withheld the output. */
const FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

/**
 * Gemini finishReason → OpenAI finish_reason. Gemini says STOP after a function call too,
 * so a candidate that called functions finishes with `tool_calls`, as OpenAI clients expect.
 */
export function finishReason(reason: unknown, calledFunctions: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && FILTERED.has(reason)) return 'content_filter';
  return calledFunctions ? 'tool_calls' : 'stop';
}
