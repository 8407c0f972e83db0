import { tokenCount } from '../../json.ts';
import type { Usage } from '../../pricing/types.ts';

/**
 * OpenAI reports prompt_tokens including cached tokens and completion_tokens including
 * reasoning tokens. Tollgate's Usage keeps input uncached so each kind is priced once.
 */
export function usageFromOpenAi(raw: unknown): Usage | null {
  if (raw === null || typeof raw !== 'object') return null;
  const u = raw as Record<string, unknown>;
  if (typeof u.prompt_tokens !== 'number' && typeof u.completion_tokens !== 'number') return null;
  const promptDetails = (u.prompt_tokens_details ?? {}) as Record<string, unknown>;
  const completionDetails = (u.completion_tokens_details ?? {}) as Record<string, unknown>;
  const prompt = tokenCount(u.prompt_tokens);
  const cached = Math.min(tokenCount(promptDetails.cached_tokens), prompt);
  return {
    inputTokens: prompt - cached,
    outputTokens: tokenCount(u.completion_tokens),
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    reasoningTokens: tokenCount(completionDetails.reasoning_tokens),
  };
}

/**
 * The Responses API reports input_tokens including cached (and cache-written) tokens and
 * output_tokens including reasoning tokens; mapped like chat usage so each kind is priced once.
 */
export function usageFromResponses(raw: unknown): Usage | null {
  if (raw === null || typeof raw !== 'object') return null;
  const u = raw as Record<string, unknown>;
  if (typeof u.input_tokens !== 'number' && typeof u.output_tokens !== 'number') return null;
  const inputDetails = (u.input_tokens_details ?? {}) as Record<string, unknown>;
  const outputDetails = (u.output_tokens_details ?? {}) as Record<string, unknown>;
  const input = tokenCount(u.input_tokens);
  const cached = Math.min(tokenCount(inputDetails.cached_tokens), input);
  const written = Math.min(tokenCount(inputDetails.cache_write_tokens), input - cached);
  return {
    inputTokens: input - cached - written,
    outputTokens: tokenCount(u.output_tokens),
    cacheReadTokens: cached,
    cacheWriteTokens: written,
    reasoningTokens: tokenCount(outputDetails.reasoning_tokens),
  };
}
