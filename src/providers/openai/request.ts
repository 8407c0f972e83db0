import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import type { CallOptions, Dialect, UpstreamRequest } from '../types.ts';

const PATHS: Partial<Record<Dialect, string>> = {
  'openai-chat': '/chat/completions',
  'openai-responses': '/responses',
  'openai-embeddings': '/embeddings',
};

export function openAiHeaders(provider: ProviderEntry, stream: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    ...provider.headers,
  };
  if (provider.api_key) headers.authorization = `Bearer ${provider.api_key}`;
  return headers;
}

/** The request body as the provider gets it: the upstream model name, and usage asked for on chat streams. */
export function openAiBody(
  dialect: Dialect,
  model: ModelEntry,
  body: Record<string, unknown>,
  opts: CallOptions,
) {
  const upstreamBody: Record<string, unknown> = { ...body, model: model.upstreamModel };
  if (dialect === 'openai-chat' && opts.stream) {
    // Always ask for usage so every stream settles on real numbers; stripped again if the client did not ask.
    const streamOptions = (body.stream_options ?? {}) as Record<string, unknown>;
    upstreamBody.stream_options = { ...streamOptions, include_usage: true };
  }
  return upstreamBody;
}

export function openAiRequest(
  dialect: Dialect,
  provider: ProviderEntry,
  model: ModelEntry,
  body: Record<string, unknown>,
  opts: CallOptions,
): UpstreamRequest {
  const path = PATHS[dialect];
  if (!path) throw new Error(`the openai adapter does not speak ${dialect}`);
  return {
    url: `${provider.base_url.replace(/\/+$/, '')}${path}`,
    headers: openAiHeaders(provider, opts.stream),
    body: JSON.stringify(openAiBody(dialect, model, body, opts)),
  };
}
