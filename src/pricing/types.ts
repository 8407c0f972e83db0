import type { PicoPerToken } from '../money.ts';

/** Per-token prices of one model, integer pico-USD per token. */
export interface ModelPrices {
  input: PicoPerToken;
  output: PicoPerToken;
  cacheRead: PicoPerToken;
  cacheWrite: PicoPerToken;
  /** Reasoning tokens are billed as output unless a model says otherwise. */
  reasoning: PicoPerToken;
}

/** Token counts by kind. input excludes cache tokens; reasoning is part of output as reported by OpenAI. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Included in outputTokens (OpenAI semantics); shown separately, not billed twice. */
  reasoningTokens: number;
}
