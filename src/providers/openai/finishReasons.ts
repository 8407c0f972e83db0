import { isRecord } from '../../json.ts';
import { FinishReasons, onlyReason } from '../finishReasons.ts';
import type { Dialect } from '../types.ts';

/** Records the `finish_reason` of each choice of a chat completion or chunk that has one. */
export function noteChatChoices(reasons: FinishReasons, choices: unknown): void {
  if (!Array.isArray(choices)) return;
  for (const [position, choice] of choices.entries()) {
    if (!isRecord(choice)) continue;
    reasons.set(typeof choice.index === 'number' ? choice.index : position, choice.finish_reason);
  }
}

/** `finish_reason` of each choice of a `chat.completion`. */
export function chatFinishReasons(body: unknown): string[] {
  if (!isRecord(body)) return [];
  const reasons = new FinishReasons();
  noteChatChoices(reasons, body.choices);
  return reasons.list();
}

/**
 * A Responses API response has no finish_reason: its own words are the `status`
 * (`completed`, `failed`, `cancelled`, …), or for an `incomplete` one the reason it was cut
 * (`incomplete_details.reason`: `max_output_tokens`, `content_filter`).
 */
export function responsesFinishReasons(response: unknown): string[] {
  if (!isRecord(response)) return [];
  const details = response.incomplete_details;
  if (response.status === 'incomplete' && isRecord(details) && typeof details.reason === 'string')
    return onlyReason(details.reason);
  return onlyReason(response.status);
}

/** Chat and Responses answers say why they stopped; embeddings have nothing to say. */
export function openAiFinishReasons(dialect: Dialect, body: unknown): string[] {
  if (dialect === 'openai-chat') return chatFinishReasons(body);
  if (dialect === 'openai-responses') return responsesFinishReasons(body);
  return [];
}
