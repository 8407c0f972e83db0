import { tokenCount } from '../../json.ts';
import type { Usage } from '../../pricing/types.ts';

/**
 * Anthropic reports input_tokens EXCLUDING cache tokens, with cache writes
 * (cache_creation_input_tokens) and cache reads (cache_read_input_tokens) beside it, and
 * output_tokens including any thinking. That is already Tollgate's Usage, kind for kind;
 * thinking is not reported apart, so reasoningTokens stays 0 (it is billed as output).
 */
export function usageFromAnthropic(raw: unknown): Usage | null {
  if (raw === null || typeof raw !== 'object') return null;
  const u = raw as Record<string, unknown>;
  if (typeof u.input_tokens !== 'number' && typeof u.output_tokens !== 'number') return null;
  return {
    inputTokens: tokenCount(u.input_tokens),
    outputTokens: tokenCount(u.output_tokens),
    cacheReadTokens: tokenCount(u.cache_read_input_tokens),
    cacheWriteTokens: tokenCount(u.cache_creation_input_tokens),
    reasoningTokens: 0,
  };
}

/** Tollgate's Usage in OpenAI's chat shape: prompt includes cached and cache-written tokens. */
export function openAiUsageOf(u: Usage) {
  const prompt = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

/** Anthropic's stop_reason as an OpenAI finish_reason. */
export function finishReasonOf(stopReason: unknown): string {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn, and whatever comes next.
      return 'stop';
  }
}
