import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import type { CallOptions, Dialect, UpstreamRequest } from '../types.ts';

/** `https://api.anthropic.com` → …/v1/messages; a base URL that already names /v1 is kept. */
export function messagesUrl(provider: ProviderEntry): string {
  const base = provider.base_url.replace(/\/+$/, '');
  return /\/v1$/.test(new URL(base).pathname) ? `${base}/messages` : `${base}/v1/messages`;
}

export function anthropicHeaders(provider: ProviderEntry, stream: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    'anthropic-version': provider.anthropic_version,
    ...provider.headers,
  };
  if (provider.api_key) headers['x-api-key'] = provider.api_key;
  return headers;
}

export function messagesRequest(
  provider: ProviderEntry,
  body: Record<string, unknown>,
  opts: CallOptions,
): UpstreamRequest {
  return {
    url: messagesUrl(provider),
    headers: anthropicHeaders(provider, opts.stream),
    body: JSON.stringify(body),
  };
}

/** Native pass-through: the client's Messages body with only the model name changed. */
export function anthropicRequest(
  dialect: Dialect,
  provider: ProviderEntry,
  model: ModelEntry,
  body: Record<string, unknown>,
  opts: CallOptions,
): UpstreamRequest {
  if (dialect !== 'anthropic-messages') throw new Error(`the anthropic adapter does not speak ${dialect}`);
  return messagesRequest(provider, { ...body, model: model.upstreamModel }, opts);
}
