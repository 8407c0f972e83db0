import { tokenCount } from '../../json.ts';
import type { Usage } from '../../pricing/types.ts';

/**
 * Bedrock's TokenUsage. Its inputTokens already excludes the prompt-cache tokens, which come
 * separately as cacheReadInputTokens and cacheWriteInputTokens — Tollgate's own split, so
 * each kind maps straight across. outputTokens includes any reasoning (Bedrock does not
 * break it out), so reasoningTokens stays 0 and reasoning is billed once, as output.
 */
export function usageFromConverse(raw: unknown): Usage | null {
  if (raw === null || typeof raw !== 'object') return null;
  const u = raw as Record<string, unknown>;
  if (typeof u.inputTokens !== 'number' && typeof u.outputTokens !== 'number') return null;
  return {
    inputTokens: tokenCount(u.inputTokens),
    outputTokens: tokenCount(u.outputTokens),
    cacheReadTokens: tokenCount(u.cacheReadInputTokens),
    cacheWriteTokens: tokenCount(u.cacheWriteInputTokens),
    reasoningTokens: 0,
  };
}

/** Tollgate usage in the canonical (OpenAI) shape: prompt tokens include cached ones. */
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

/** Converse stop reasons → OpenAI finish reasons. */
export function finishReason(stopReason: unknown): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'content_filtered':
    case 'guardrail_intervened':
      return 'content_filter';
    default:
      // end_turn, stop_sequence and anything newer.
      return 'stop';
  }
}
