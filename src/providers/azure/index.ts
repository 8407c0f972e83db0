import { openAiAdapter } from '../openai/index.ts';
import type { ProviderAdapter } from '../types.ts';
import { AZURE_PATHS, azureRequest } from './request.ts';

/**
 * Azure OpenAI: OpenAI's wire format behind Azure's URL shape and `api-key` header. Bodies,
 * usage and stream metering are the OpenAI adapter's; it speaks whatever the OpenAI adapter
 * speaks that Azure has a path for.
 */
export const azureAdapter: ProviderAdapter = {
  kind: 'azure',
  dialects: openAiAdapter.dialects.filter((d) => AZURE_PATHS[d] !== undefined),
  request: azureRequest,
  usageFromJson: openAiAdapter.usageFromJson,
  finishReasonsFromJson: openAiAdapter.finishReasonsFromJson,
  createStreamMeter: openAiAdapter.createStreamMeter,
  canonical: {
    request: (provider, model, body, opts) => azureRequest('openai-chat', provider, model, body, opts),
    fromJson: openAiAdapter.canonical.fromJson,
    createDecoder: openAiAdapter.canonical.createDecoder,
  },
};
