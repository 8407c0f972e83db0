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
  request: notNative,
  usageFromJson: (_dialect, body) =>
    body !== null && typeof body === 'object'
      ? usageFromConverse((body as Record<string, unknown>).usage)
      : null,
  createStreamMeter: notNative,
  canonical: {
    request: converseRequest,
    fromJson: completionFromConverse,
    createDecoder: () => new ConverseStreamDecoder(),
  },
};
