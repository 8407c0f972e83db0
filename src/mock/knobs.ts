import type { IncomingHttpHeaders } from 'node:http';
import { MOCK_FAULTS, type MockFault, type MockOptions } from './types.ts';

export const DEFAULT_MODELS: readonly string[] = [
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4o',
  'gpt-4o-mini',
  'o4-mini',
  'text-embedding-3-small',
];

/** Options with defaults filled in, computed once per server. */
export interface MockSettings {
  apiKey: string | null;
  latencyMs: number;
  ttftMs: number;
  interChunkMs: number;
  outputTokens: number;
  models: readonly string[];
  recordRequests: number;
  fault: MockFault | null;
}

export function resolveSettings(opts: MockOptions): MockSettings {
  return {
    apiKey: opts.apiKey ?? null,
    latencyMs: opts.latencyMs ?? 0,
    ttftMs: opts.ttftMs ?? 0,
    interChunkMs: opts.interChunkMs ?? 0,
    outputTokens: opts.outputTokens ?? 16,
    models: opts.models ?? DEFAULT_MODELS,
    recordRequests: opts.recordRequests ?? 0,
    fault: opts.fault ?? null,
  };
}

/** What one request asked the mock to do: settings overridden by `x-mock-*` headers. */
export interface Knobs {
  latencyMs: number;
  ttftMs: number;
  interChunkMs: number;
  outputTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  fault: MockFault | null;
  retryAfterSeconds: number;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A non-negative number from a header, or the fallback when absent or unparsable. */
function headerNumber(headers: IncomingHttpHeaders, name: string, fallback: number): number {
  const raw = header(headers, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  return raw.trim() !== '' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

function headerFault(headers: IncomingHttpHeaders, fallback: MockFault | null): MockFault | null {
  const raw = header(headers, 'x-mock-fault');
  if (raw === undefined) return fallback;
  const value = raw.trim().toLowerCase();
  return (MOCK_FAULTS as readonly string[]).includes(value) ? (value as MockFault) : null;
}

export function requestKnobs(headers: IncomingHttpHeaders, settings: MockSettings): Knobs {
  return {
    latencyMs: headerNumber(headers, 'x-mock-latency-ms', settings.latencyMs),
    ttftMs: headerNumber(headers, 'x-mock-ttft-ms', settings.ttftMs),
    interChunkMs: headerNumber(headers, 'x-mock-inter-chunk-ms', settings.interChunkMs),
    outputTokens: Math.floor(headerNumber(headers, 'x-mock-output-tokens', settings.outputTokens)),
    cachedTokens: Math.floor(headerNumber(headers, 'x-mock-cached-tokens', 0)),
    reasoningTokens: Math.floor(headerNumber(headers, 'x-mock-reasoning-tokens', 0)),
    fault: headerFault(headers, settings.fault),
    retryAfterSeconds: headerNumber(headers, 'x-mock-retry-after', 1),
  };
}
