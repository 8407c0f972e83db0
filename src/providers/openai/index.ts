import type { ChatCallOptions, ProviderAdapter } from '../types.ts';
import { openAiChatRequest } from './request.ts';
import { OpenAiStreamMeter } from './stream.ts';
import { usageFromOpenAi } from './usage.ts';

export const openAiAdapter: ProviderAdapter = {
  kind: 'openai',
  chatRequest: openAiChatRequest,
  usageFromJson(body: unknown) {
    if (body === null || typeof body !== 'object') return null;
    return usageFromOpenAi((body as Record<string, unknown>).usage);
  },
  createStreamMeter(opts: ChatCallOptions) {
    return new OpenAiStreamMeter(opts.clientWantsUsage);
  },
};
