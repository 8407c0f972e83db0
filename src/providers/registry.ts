import type { RawProvider } from '../config/schema.ts';
import { anthropicAdapter } from './anthropic/index.ts';
import { azureAdapter } from './azure/index.ts';
import { bedrockAdapter } from './bedrock/index.ts';
import { geminiAdapter } from './gemini/index.ts';
import { openAiAdapter } from './openai/index.ts';
import type { ProviderAdapter } from './types.ts';

export type ProviderKind = RawProvider['kind'];

/** Every adapter, by the `kind` a provider declares in config. One line per provider. */
const ADAPTERS: Partial<Record<ProviderKind, ProviderAdapter>> = {
  openai: openAiAdapter,
  'openai-compatible': openAiAdapter,
  bedrock: bedrockAdapter,
  gemini: geminiAdapter,
  azure: azureAdapter,
  anthropic: anthropicAdapter,
};

export function adapterFor(kind: ProviderKind): ProviderAdapter | undefined {
  return ADAPTERS[kind];
}
