import type { Ingress } from '../ingress/types.ts';
import { worstCaseNanos } from '../pricing/cost.ts';
import type { Estimate, Target } from './context.ts';

/**
 * The worst case of a call: every input token at the dearest input price, the full output
 * allowance. The ingress counts the request (o200k); the provider may raise that count to what
 * its own tokenizer and hidden prompts can reach.
 */
export function estimate(ingress: Ingress, body: Record<string, unknown>, target: Target): Estimate {
  const counted = ingress.estimateInput(body);
  const inputTokens = target.adapter.boundInputTokens?.(counted, body, target.model) ?? counted;
  const maxOutput = ingress.maxOutput(body, target.model.maxOutputTokens);
  return {
    inputTokens,
    maxOutputTokens: maxOutput,
    worstNanos: worstCaseNanos(inputTokens, maxOutput, target.prices),
  };
}
