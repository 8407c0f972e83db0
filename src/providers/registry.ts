import type { RawProvider } from '../config/schema.ts';
import { openAiAdapter } from './openai/index.ts';
import type { ProviderAdapter } from './types.ts';

export type ProviderKind = RawProvider['kind'];

/** Every adapter, by the `kind` a provider declares in config. One line per provider. */
const ADAPTERS: Partial<Record<ProviderKind, ProviderAdapter>> = {
  openai: openAiAdapter,
  'openai-compatible': openAiAdapter,
};

export function adapterFor(kind: ProviderKind): ProviderAdapter | undefined {
  return ADAPTERS[kind];
}
