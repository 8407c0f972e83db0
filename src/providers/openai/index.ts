import type { CallOptions, Dialect, ProviderAdapter, StreamMeter } from '../types.ts';
import { chatFinishReasons, openAiFinishReasons } from './finishReasons.ts';
import { openAiRequest } from './request.ts';
import { ResponsesStreamMeter } from './responsesStream.ts';
import { OpenAiChatDecoder, OpenAiStreamMeter } from './stream.ts';
import { usageFromOpenAi, usageFromResponses } from './usage.ts';

function usageOf(body: unknown) {
  if (body === null || typeof body !== 'object') return null;
  return usageFromOpenAi((body as Record<string, unknown>).usage);
}

/** Chat and embeddings report `prompt_tokens` / `completion_tokens`; Responses `input_tokens` / `output_tokens`. */
function usageFromJson(dialect: Dialect, body: unknown) {
  if (dialect !== 'openai-responses') return usageOf(body);
  if (body === null || typeof body !== 'object') return null;
  return usageFromResponses((body as Record<string, unknown>).usage);
}

function meterFor(dialect: Dialect, opts: CallOptions): StreamMeter {
  if (dialect === 'openai-chat') return new OpenAiStreamMeter(opts.clientWantsUsage);
  if (dialect === 'openai-responses') return new ResponsesStreamMeter();
  // Embeddings never stream (the ingress refuses `stream`), and other dialects are not OpenAI's.
  throw new Error(`no stream meter for ${dialect}`);
}

/** OpenAI itself; also any OpenAI-compatible server (vLLM, Ollama, Groq, Together, …). */
export const openAiAdapter: ProviderAdapter = {
  kind: 'openai',
  dialects: ['openai-chat', 'openai-responses', 'openai-embeddings'],
  request: openAiRequest,
  usageFromJson,
  finishReasonsFromJson: openAiFinishReasons,
  createStreamMeter: meterFor,
  canonical: {
    request: (provider, model, body, opts) => openAiRequest('openai-chat', provider, model, body, opts),
    fromJson: (body) => ({
      completion: (body ?? {}) as Record<string, unknown>,
      usage: usageOf(body),
      finishReasons: chatFinishReasons(body),
    }),
    createDecoder: () => new OpenAiChatDecoder(),
  },
};
