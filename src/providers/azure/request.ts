import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import { openAiBody, openAiHeaders } from '../openai/request.ts';
import type { CallOptions, Dialect, UpstreamRequest } from '../types.ts';

/** Azure's path for each OpenAI dialect, under the deployment. */
export const AZURE_PATHS: Partial<Record<Dialect, string>> = {
  'openai-chat': 'chat/completions',
  'openai-embeddings': 'embeddings',
};

/**
 * `{base_url}/openai/deployments/{deployment}/{path}?api-version={api_version}`: the body
 * and its usage are OpenAI's; only the URL and the auth differ. The deployment is the
 * model's `upstream_model`. `base_url` is the resource endpoint
 * (https://{resource}.openai.azure.com), with or without a trailing `/openai`.
 */
export function azureUrl(dialect: Dialect, provider: ProviderEntry, model: ModelEntry): string {
  const path = AZURE_PATHS[dialect];
  if (!path) throw new Error(`the azure adapter does not speak ${dialect}`);
  const base = provider.base_url.replace(/\/+$/, '').replace(/\/openai$/, '');
  const deployment = encodeURIComponent(model.upstreamModel);
  return `${base}/openai/deployments/${deployment}/${path}?api-version=${encodeURIComponent(provider.api_version)}`;
}

/**
 * The key goes in `api-key`, never as a Bearer token. Without a key, any `authorization`
 * the operator set in `headers` (a Microsoft Entra ID token) is sent as configured.
 */
export function azureRequest(
  dialect: Dialect,
  provider: ProviderEntry,
  model: ModelEntry,
  body: Record<string, unknown>,
  opts: CallOptions,
): UpstreamRequest {
  const headers = openAiHeaders({ ...provider, api_key: undefined }, opts.stream);
  if (provider.api_key) headers['api-key'] = provider.api_key;
  return {
    url: azureUrl(dialect, provider, model),
    headers,
    body: JSON.stringify(openAiBody(dialect, model, body, opts)),
  };
}
