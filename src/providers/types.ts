import type { ModelEntry, ProviderEntry } from '../config/compile.ts';
import type { Usage } from '../pricing/types.ts';

/**
 * The wire formats clients speak to Tollgate. A provider that speaks the client's dialect gets
 * the request as-is (bytes pass through, only metered); any other provider gets it translated
 * through the canonical form, OpenAI chat completions.
 */
export type Dialect = 'openai-chat' | 'openai-responses' | 'openai-embeddings' | 'anthropic-messages';

export interface UpstreamRequest {
  url: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body: string;
}

export interface CallOptions {
  stream: boolean;
  /** The client asked for usage in the stream; if not, a meter strips the usage event it added. */
  clientWantsUsage: boolean;
}

/** Meters a streamed response while passing its bytes through (or translating them). */
export interface StreamMeter {
  /** Bytes to send to the client now (may hold back an incomplete event). */
  push(chunk: Buffer): Buffer | null;
  /** Bytes still to send at the end of the stream. */
  end(): Buffer | null;
  /** Usage the provider reported, if it did. */
  usage(): Usage | null;
  /** Text generated so far (content, tool-call arguments, reasoning), for counting when usage is missing. */
  generatedText(): string;
  /** True once the provider signalled a clean end of stream. */
  completed(): boolean;
  /** Error event the provider sent inside a 200 stream, if any. */
  streamError(): string | null;
  /**
   * Optional: why the model stopped, one entry per choice, in the provider's own words (OpenAI
   * `finish_reason`, Anthropic `stop_reason`, …); empty until the stream said. Read only from
   * events the meter parses anyway, so it costs nothing on the hot path.
   */
  finishReasons?(): string[];
}

/** An OpenAI `chat.completion` object: the canonical response. */
export type CanonicalCompletion = Record<string, unknown>;
/** An OpenAI `chat.completion.chunk` object: the canonical stream event. */
export type CanonicalChunk = Record<string, unknown>;
/** An OpenAI chat-completions request body: the canonical request. */
export type CanonicalRequest = Record<string, unknown>;

/** Provider stream bytes → canonical chunks, metering as it goes. */
export interface StreamDecoder {
  push(chunk: Buffer): CanonicalChunk[];
  end(): CanonicalChunk[];
  usage(): Usage | null;
  generatedText(): string;
  completed(): boolean;
  streamError(): string | null;
  /** Optional: as StreamMeter's, in the provider's own words (not the canonical finish_reason). */
  finishReasons?(): string[];
}

/** The provider side of a translated call: canonical chat in, canonical chat out. */
export interface CanonicalCodec {
  request(
    provider: ProviderEntry,
    model: ModelEntry,
    body: CanonicalRequest,
    opts: CallOptions,
  ): UpstreamRequest | Promise<UpstreamRequest>;
  /** `finishReasons`: as `ProviderAdapter.finishReasonsFromJson`, the provider's own words. */
  fromJson(body: unknown): {
    completion: CanonicalCompletion;
    usage: Usage | null;
    finishReasons?: string[];
  };
  createDecoder(opts: CallOptions): StreamDecoder;
}

/** One provider's wire format. Generic code only talks to this interface. */
export interface ProviderAdapter {
  readonly kind: string;
  /** Dialects the provider speaks itself. */
  readonly dialects: readonly Dialect[];
  /** A request in one of `dialects`, with only the model name (and auth, URL) changed. */
  request(
    dialect: Dialect,
    provider: ProviderEntry,
    model: ModelEntry,
    body: Record<string, unknown>,
    opts: CallOptions,
  ): UpstreamRequest | Promise<UpstreamRequest>;
  /** Usage from a JSON response in `dialect`; null when the body has none. */
  usageFromJson(dialect: Dialect, body: unknown): Usage | null;
  /**
   * Optional: why the model stopped, one entry per choice, in the provider's own words, from a
   * JSON response in `dialect` (already parsed); empty when the body says nothing (embeddings).
   */
  finishReasonsFromJson?(dialect: Dialect, body: unknown): string[];
  /**
   * Optional: raises the ingress's input estimate (an o200k upper bound) to an upper bound of
   * what this provider counts, when its tokenizer is coarser or it adds a hidden prompt (e.g. a
   * tool-use preamble). `body` is the client's request, in the ingress dialect; `model` the
   * model it goes to (providers that host several model families decide by it).
   */
  boundInputTokens?(estimate: number, body: Record<string, unknown>, model: ModelEntry): number;
  createStreamMeter(dialect: Dialect, opts: CallOptions): StreamMeter;
  canonical: CanonicalCodec;
}
