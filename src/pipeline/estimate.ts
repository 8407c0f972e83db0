import { estimateChatInputTokens } from '../estimate/chat.ts';
import { maxOutputTokens } from '../estimate/output.ts';
import { worstCaseNanos } from '../pricing/cost.ts';
import type { Estimate, Target } from './context.ts';

/** The worst case of a call: every input token at the dearest input price, the full output allowance. */
export function estimate(body: Record<string, unknown>, target: Target): Estimate {
  const inputTokens = estimateChatInputTokens(body);
  const maxOutput = maxOutputTokens(body, target.model.maxOutputTokens).tokens;
  return {
    inputTokens,
    maxOutputTokens: maxOutput,
    worstNanos: worstCaseNanos(inputTokens, maxOutput, target.prices),
  };
}
