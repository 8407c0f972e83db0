import type { ChatPlan } from './chatPlan.ts';
import { completionId, nowSeconds, SYSTEM_FINGERPRINT } from './ids.ts';
import { mockContent } from './words.ts';

/** A non-streamed chat.completion object, as OpenAI returns it. */
export function chatCompletionBody(plan: ChatPlan): unknown {
  const content = mockContent(plan.contentTokens);
  const choices = [];
  for (let index = 0; index < plan.choices; index++) {
    choices.push({
      index,
      message: { role: 'assistant', content, refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: plan.finishReason,
    });
  }
  return {
    id: completionId(),
    object: 'chat.completion',
    created: nowSeconds(),
    model: plan.model,
    choices,
    usage: plan.usage,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}
