import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import type { ChatCallOptions, UpstreamRequest } from '../types.ts';

export function openAiChatRequest(
  provider: ProviderEntry,
  model: ModelEntry,
  body: Record<string, unknown>,
  opts: ChatCallOptions,
): UpstreamRequest {
  const upstreamBody: Record<string, unknown> = { ...body, model: model.upstreamModel };
  if (opts.stream) {
    // Always ask for usage so every stream settles on real numbers; stripped again if the client did not ask.
    const streamOptions = (body.stream_options ?? {}) as Record<string, unknown>;
    upstreamBody.stream_options = { ...streamOptions, include_usage: true };
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: opts.stream ? 'text/event-stream' : 'application/json',
    ...provider.headers,
  };
  if (provider.api_key) headers.authorization = `Bearer ${provider.api_key}`;
  return {
    url: `${provider.base_url.replace(/\/+$/, '')}/chat/completions`,
    headers,
    body: JSON.stringify(upstreamBody),
  };
}
