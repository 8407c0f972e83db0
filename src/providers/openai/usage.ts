import type { Usage } from '../../pricing/types.ts';

const int = (v: unknown): number =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;

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
  const prompt = int(u.prompt_tokens);
  const cached = Math.min(int(promptDetails.cached_tokens), prompt);
  return {
    inputTokens: prompt - cached,
    outputTokens: int(u.completion_tokens),
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    reasoningTokens: int(completionDetails.reasoning_tokens),
  };
}
