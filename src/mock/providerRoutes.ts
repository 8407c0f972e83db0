import { anthropicRoute } from './anthropic/index.ts';
import { azureRoute } from './azure/index.ts';
import { bedrockRoute } from './bedrock/index.ts';
import type { Exchange } from './exchange.ts';
import { geminiRoute } from './gemini/index.ts';

/** A request body as the mock received it. */
export type MockBody =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'malformed'; text: string };

/**
 * A non-OpenAI wire format the mock speaks (Anthropic, Bedrock, Gemini, Azure paths).
 * Each provider's mock lives in its own folder and adds one entry to PROVIDER_ROUTES;
 * routes here run before the OpenAI routes and do their own authentication.
 */
export interface MockRoute {
  name: string;
  matches(method: string, path: string): boolean;
  handle(ex: Exchange, path: string, body: MockBody, rawBody: string): Promise<void>;
}

export const PROVIDER_ROUTES: MockRoute[] = [bedrockRoute, geminiRoute, azureRoute, anthropicRoute];
