import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import type { CallOptions, CanonicalRequest, UpstreamRequest } from '../types.ts';
import { generateContentBody } from './generateContentBody.ts';

/**
 * A base URL whose path already names an API version (…/v1, …/v1beta, …/v1alpha) is used
 * as-is — which also lets a Vertex AI publisher URL (…/v1/projects/{p}/locations/{l}/publishers/google) work.
 */
const VERSIONED = /\/v\d+(?:alpha|beta)?\d*(?:\/|$)/;

/**
 * `{base}/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` (SSE;
 * without alt=sse Gemini streams one long JSON array). `base_url` is the API host
 * (https://generativelanguage.googleapis.com), optionally with a path naming the version. A model id that
 * already names its collection (`tunedModels/…`) keeps it.
 */
export function generateContentUrl(provider: ProviderEntry, model: ModelEntry, stream: boolean): string {
  const base = provider.base_url.replace(/\/+$/, '');
  const path = base.replace(/^[a-z]+:\/\/[^/]+/i, '');
  const root = VERSIONED.test(path) ? base : `${base}/v1beta`;
  const id = model.upstreamModel.replace(/^\/+/, '');
  const resource = id.includes('/') ? id : `models/${id}`;
  return `${root}/${resource}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
}

export function generateContentRequest(
  provider: ProviderEntry,
  model: ModelEntry,
  body: CanonicalRequest,
  opts: CallOptions,
): UpstreamRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: opts.stream ? 'text/event-stream' : 'application/json',
    ...provider.headers,
  };
  // The header, not `?key=`: a key in the URL ends up in access logs.
  if (provider.api_key) headers['x-goog-api-key'] = provider.api_key;
  return {
    url: generateContentUrl(provider, model, opts.stream),
    headers,
    body: JSON.stringify(generateContentBody(body)),
  };
}
