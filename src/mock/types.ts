import type { IncomingHttpHeaders } from 'node:http';

/** Failure modes the mock can play, chosen per request by `x-mock-fault` or by default in options. */
export type MockFault =
  | '429'
  | '500'
  | '503'
  | '529'
  | 'timeout'
  | 'cut'
  | 'no-usage'
  | 'bad-json'
  | 'stream-error';

export const MOCK_FAULTS: readonly MockFault[] = [
  '429',
  '500',
  '503',
  // Anthropic only: 529 overloaded_error.
  '529',
  'timeout',
  'cut',
  'no-usage',
  'bad-json',
  // Responses streams: response.failed; Anthropic streams: `event: error` (overloaded); after half the deltas.
  'stream-error',
];

export interface MockOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** If set, every request needs `Authorization: Bearer <apiKey>`, else 401 as OpenAI answers. */
  apiKey?: string | null;
  /** Delay before a JSON (non-stream) response. Default 0. */
  latencyMs?: number;
  /** Delay before the first stream chunk. Default 0. */
  ttftMs?: number;
  /** Delay between stream chunks. Default 0. */
  interChunkMs?: number;
  /** Completion length when the request does not cap it lower. Default 16. */
  outputTokens?: number;
  /** Model ids served by /v1/models. */
  models?: string[];
  /** Keep the last N received requests for test assertions. Default 0. */
  recordRequests?: number;
  /** Fault applied to every POST unless a request's `x-mock-fault` says otherwise (`none` clears it). */
  fault?: MockFault | null;
}

export interface ReceivedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Path with the query string, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
}

export interface MockStats {
  requests: number;
  streamsStarted: number;
  streamsCompleted: number;
  /** Requests whose client went away before the response was complete. */
  aborted: number;
}

export interface MockServer {
  /** e.g. http://127.0.0.1:43123 (no /v1 suffix). */
  url: string;
  port: number;
  /** Live list, oldest first, at most `recordRequests` long. */
  received: ReceivedRequest[];
  /** Live counters. */
  stats: MockStats;
  /** Stops listening and destroys every open socket, including held `timeout` requests. */
  close(): Promise<void>;
}

export interface ChatContentPart {
  type: string;
  text?: string;
}

export interface ChatToolCall {
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface ChatMessage {
  role: string;
  content?: string | readonly ChatContentPart[] | null;
  name?: string;
  tool_calls?: readonly ChatToolCall[];
}

/** The parts of an OpenAI chat completion request the mock reads. */
export interface ChatBody {
  model: string;
  messages: readonly ChatMessage[];
  tools?: readonly unknown[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
}
