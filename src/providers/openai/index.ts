import type { CallOptions, Dialect, ProviderAdapter } from '../types.ts';
import { openAiRequest } from './request.ts';
import { OpenAiChatDecoder, OpenAiStreamMeter } from './stream.ts';
import { usageFromOpenAi } from './usage.ts';

function usageOf(body: unknown) {
  if (body === null || typeof body !== 'object') return null;
  return usageFromOpenAi((body as Record<string, unknown>).usage);
}

function meterFor(dialect: Dialect, opts: CallOptions) {
  if (dialect !== 'openai-chat') throw new Error(`no stream meter for ${dialect}`);
  return new OpenAiStreamMeter(opts.clientWantsUsage);
}

/** OpenAI itself; also any OpenAI-compatible server (vLLM, Ollama, Groq, Together, …). */
export const openAiAdapter: ProviderAdapter = {
  kind: 'openai',
  dialects: ['openai-chat'],
  request: openAiRequest,
  usageFromJson: (_dialect, body) => usageOf(body),
  createStreamMeter: meterFor,
  canonical: {
    request: (provider, model, body, opts) => openAiRequest('openai-chat', provider, model, body, opts),
    fromJson: (body) => ({ completion: (body ?? {}) as Record<string, unknown>, usage: usageOf(body) }),
    createDecoder: () => new OpenAiChatDecoder(),
  },
};
