import { openAiAdapter } from './openai/index.ts';
import type { ProviderAdapter } from './types.ts';

export type ProviderKind = 'openai' | 'openai-compatible';

/** Every adapter, by the `kind` a provider declares in config. */
const ADAPTERS: Record<ProviderKind, ProviderAdapter> = {
  openai: openAiAdapter,
  'openai-compatible': openAiAdapter,
};

export function adapterFor(kind: ProviderKind): ProviderAdapter {
  return ADAPTERS[kind];
}
