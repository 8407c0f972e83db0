import type { PicoPerToken } from '../money.ts';

/** Per-token prices of one model, integer pico-USD per token. */
export interface ModelPrices {
  input: PicoPerToken;
  output: PicoPerToken;
  cacheRead: PicoPerToken;
  cacheWrite: PicoPerToken;
  /** Reasoning tokens are billed as output unless a model says otherwise. */
  reasoning: PicoPerToken;
  /**
   * Long-context tiers, ascending: when a call's input-side tokens (plain + cache read + cache
   * write) exceed `aboveInputTokens`, every token of the call is priced at `prices`
   * (e.g. Gemini 2.5 Pro above 200k). Absent for flat-priced models.
   */
  tiers?: ReadonlyArray<PriceTier>;
}

export interface PriceTier {
  aboveInputTokens: number;
  prices: ModelPrices;
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

/** Where a model's prices came from, for `tollgate` diagnostics and the dashboard. */
export type PriceSource = 'config' | 'bundled' | 'override+bundled' | 'none';

/** Prices of every configured model, resolved once at startup. */
export interface PriceTable {
  /** undefined = the model cannot be priced; callers must refuse it under hard budgets, never bill $0. */
  get(modelId: string): ModelPrices | undefined;
  source(modelId: string): PriceSource;
}
