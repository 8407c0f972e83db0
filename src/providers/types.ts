import type { ModelEntry, ProviderEntry } from '../config/compile.ts';
import type { Usage } from '../pricing/types.ts';

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Meters a streamed response while passing its bytes through. */
export interface StreamMeter {
  /** Bytes to send to the client now (may hold back an incomplete event). */
  push(chunk: Buffer): Buffer | null;
  /** Bytes still held back at the end of the stream. */
  end(): Buffer | null;
  /** Usage the provider reported, if it did. */
  usage(): Usage | null;
  /** Text generated so far (content, tool-call arguments, reasoning), for counting when usage is missing. */
  generatedText(): string;
  /** True once the provider signalled a clean end of stream. */
  completed(): boolean;
  /** Error event the provider sent inside a 200 stream, if any. */
  streamError(): string | null;
}

export interface ChatCallOptions {
  stream: boolean;
  /** The client asked for usage in the stream; if not, the meter strips the usage event. */
  clientWantsUsage: boolean;
}

/** One provider's wire format. Generic code only talks to this interface. */
export interface ProviderAdapter {
  readonly kind: string;
  chatRequest(
    provider: ProviderEntry,
    model: ModelEntry,
    body: Record<string, unknown>,
    opts: ChatCallOptions,
  ): UpstreamRequest;
  /** Usage from a JSON response body; null when the body has none. */
  usageFromJson(body: unknown): Usage | null;
  createStreamMeter(opts: ChatCallOptions): StreamMeter;
}
