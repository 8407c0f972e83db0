import { anthropicInputBound } from '../anthropic/inputBound.ts';
import { onlyReason } from '../finishReasons.ts';
import type { ProviderAdapter } from '../types.ts';
import { converseRequest } from './request.ts';
import { completionFromConverse } from './response.ts';
import { ConverseStreamDecoder } from './stream.ts';
import { usageFromConverse } from './usage.ts';

function notNative(): never {
  throw new Error('Bedrock speaks no client dialect natively; calls are translated through Converse');
}

/**
 * AWS Bedrock Runtime, through the Converse API (one request shape for every Bedrock model).
 * No client dialect passes through: every call is translated from canonical chat.
 */
export const bedrockAdapter: ProviderAdapter = {
  kind: 'bedrock',
  dialects: [],
  // Claude on Bedrock counts with Claude's tokenizer and tool preamble, as on Anthropic's own API.
  boundInputTokens: (estimate, body, model) =>
    isClaude(model.upstreamModel) ? anthropicInputBound(estimate, body) : estimate,
  request: notNative,
  usageFromJson: (_dialect, body) =>
    body !== null && typeof body === 'object'
      ? usageFromConverse((body as Record<string, unknown>).usage)
      : null,
  finishReasonsFromJson: (_dialect, body) =>
    body !== null && typeof body === 'object' ? onlyReason((body as Record<string, unknown>).stopReason) : [],
  createStreamMeter: notNative,
  canonical: {
    request: converseRequest,
    fromJson: completionFromConverse,
    createDecoder: () => new ConverseStreamDecoder(),
  },
};

/** Bedrock model ids name their family: `anthropic.claude-…`, or an inference profile `us.anthropic.claude-…`. */
export function isClaude(upstreamModel: string): boolean {
  return /(^|\.)anthropic\.claude/.test(upstreamModel);
}
