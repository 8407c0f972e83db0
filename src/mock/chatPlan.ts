import type { Knobs } from './knobs.ts';
import { mockPromptTokens } from './promptTokens.ts';
import type { ChatBody } from './types.ts';

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

/** Everything about a completion that is decided before any byte is written. */
export interface ChatPlan {
  model: string;
  choices: number;
  /** Visible tokens per choice. */
  contentTokens: number;
  finishReason: 'stop' | 'length';
  usage: ChatUsage;
}

/**
 * As OpenAI does, the output cap covers reasoning tokens too: reasoning takes its share of
 * max_completion_tokens first and the visible text gets the rest, so completion_tokens
 * never exceeds the cap a gateway clamped the request to.
 */
export function planChat(body: ChatBody, knobs: Knobs): ChatPlan {
  const cap = body.max_completion_tokens ?? body.max_tokens ?? null;
  const choices = body.n ?? 1;
  const reasoning = cap === null ? knobs.reasoningTokens : Math.min(knobs.reasoningTokens, cap);
  const room = cap === null ? Number.POSITIVE_INFINITY : cap - reasoning;
  const contentTokens = Math.min(room, knobs.outputTokens);
  const promptTokens = mockPromptTokens(body);
  const completionTokens = choices * contentTokens + reasoning;
  return {
    model: body.model,
    choices,
    contentTokens,
    finishReason: room < knobs.outputTokens ? 'length' : 'stop',
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: Math.min(knobs.cachedTokens, promptTokens), audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: reasoning,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
  };
}
