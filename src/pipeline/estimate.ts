import type { Ingress } from '../ingress/types.ts';
import { worstCaseNanos } from '../pricing/cost.ts';
import type { Estimate, Target } from './context.ts';

/** The worst case of a call: every input token at the dearest input price, the full output allowance. */
export function estimate(ingress: Ingress, body: Record<string, unknown>, target: Target): Estimate {
  const inputTokens = ingress.estimateInput(body);
  const maxOutput = ingress.maxOutput(body, target.model.maxOutputTokens);
  return {
    inputTokens,
    maxOutputTokens: maxOutput,
    worstNanos: worstCaseNanos(inputTokens, maxOutput, target.prices),
  };
}
