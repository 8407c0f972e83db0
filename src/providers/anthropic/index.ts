import { onlyReason } from '../finishReasons.ts';
import type { CallOptions, Dialect, ProviderAdapter, StreamMeter } from '../types.ts';
import { anthropicInputBound } from './inputBound.ts';
import { messagesBodyFromChat } from './messagesBody.ts';
import { anthropicRequest, messagesRequest } from './request.ts';
import { completionFromMessage, isRecord } from './response.ts';
import { AnthropicChatDecoder, AnthropicStreamMeter } from './stream.ts';
import { usageFromAnthropic } from './usage.ts';

function meterFor(dialect: Dialect, _opts: CallOptions): StreamMeter {
  if (dialect !== 'anthropic-messages') throw new Error(`no stream meter for ${dialect}`);
  return new AnthropicStreamMeter();
}

/**
 * Anthropic's Messages API: native for Anthropic clients (bytes pass through, usage metered
 * from message_start / message_delta or the JSON `usage`), translated for OpenAI chat clients.
 * Finish reasons are the `stop_reason` (end_turn, max_tokens, tool_use, …) as Anthropic says it.
 */
export const anthropicAdapter: ProviderAdapter = {
  kind: 'anthropic',
  dialects: ['anthropic-messages'],
  request: anthropicRequest,
  usageFromJson: (_dialect, body) => (isRecord(body) ? usageFromAnthropic(body.usage) : null),
  finishReasonsFromJson: (_dialect, body) => (isRecord(body) ? onlyReason(body.stop_reason) : []),
  boundInputTokens: anthropicInputBound,
  createStreamMeter: meterFor,
  canonical: {
    request: (provider, model, body, opts) =>
      messagesRequest(provider, messagesBodyFromChat(model, body, opts.stream), opts),
    fromJson: completionFromMessage,
    createDecoder: () => new AnthropicChatDecoder(),
  },
};
