import { AwsV4Signer } from 'aws4fetch';
import type { ModelEntry, ProviderEntry } from '../../config/compile.ts';
import type { CallOptions, CanonicalRequest, UpstreamRequest } from '../types.ts';
import { converseBody } from './converseBody.ts';

/** Signing keys are derived per secret, day, region and service; caching them saves 4 HMACs a call. */
const signingKeys = new Map<string, ArrayBuffer>();
const SIGNING_KEY_CACHE_LIMIT = 256;

/**
 * `POST {base_url}/model/{modelId}/converse[-stream]`. The model id is one path segment, so
 * `:` (every versioned Bedrock id) and `/` (inference-profile ARNs) are percent-encoded,
 * as the AWS SDKs do; the signer then encodes the path once more, as SigV4 wants.
 */
export function converseUrl(provider: ProviderEntry, model: ModelEntry, stream: boolean): string {
  const base = provider.base_url.replace(/\/+$/, '');
  return `${base}/model/${encodeURIComponent(model.upstreamModel)}/${stream ? 'converse-stream' : 'converse'}`;
}

/**
 * Signs with SigV4 (service `bedrock`) over exactly the body string that is sent. Without
 * credentials the request goes unsigned and Bedrock answers 403, which the gateway reports
 * as an upstream error naming the provider.
 */
export async function signedRequest(
  provider: ProviderEntry,
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<UpstreamRequest> {
  const accessKeyId = provider.aws_access_key_id;
  const secretAccessKey = provider.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) return { url, headers, body };
  if (signingKeys.size > SIGNING_KEY_CACHE_LIMIT) signingKeys.clear();
  const signer = new AwsV4Signer({
    method: 'POST',
    url,
    headers,
    body,
    accessKeyId,
    secretAccessKey,
    sessionToken: provider.aws_session_token,
    service: 'bedrock',
    region: provider.region,
    cache: signingKeys,
  });
  const signed = await signer.sign();
  const out: Record<string, string> = {};
  signed.headers.forEach((value, name) => {
    out[name] = value;
  });
  return { url, headers: out, body };
}

export async function converseRequest(
  provider: ProviderEntry,
  model: ModelEntry,
  body: CanonicalRequest,
  opts: CallOptions,
): Promise<UpstreamRequest> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: opts.stream ? 'application/vnd.amazon.eventstream' : 'application/json',
    ...provider.headers,
  };
  return signedRequest(
    provider,
    converseUrl(provider, model, opts.stream),
    headers,
    JSON.stringify(converseBody(body)),
  );
}
