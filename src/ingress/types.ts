import type { Denial } from '../errors.ts';
import type { Usage } from '../pricing/types.ts';
import type { CanonicalChunk, CanonicalCompletion, CanonicalRequest, Dialect } from '../providers/types.ts';
import type { Result } from '../result.ts';

export interface CallShape {
  model: string;
  stream: boolean;
  clientWantsUsage: boolean;
}

/** Canonical chunks → the client's stream format. */
export interface StreamEncoder {
  encode(chunk: CanonicalChunk): string;
  /** The stream's closing events (usage where the dialect carries it). */
  finish(usage: Usage | null): string;
}

export interface EncoderContext {
  /** The model id the client asked for. */
  model: string;
  clientWantsUsage: boolean;
  /** Estimated input tokens, for dialects that announce input usage before it is known. */
  estimatedInputTokens: number;
}

/** An error as the client's API writes it: the catalogue's status and headers, the body in the dialect's shape. */
export interface IngressErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * One client-facing API (an OpenAI or Anthropic endpoint): how to read its requests, how big
 * they can get, and how to answer in its format when the provider speaks another.
 */
export interface Ingress {
  readonly dialect: Dialect;
  /** Path recorded on ledger rows. */
  readonly endpoint: string;
  /** Body fields that cap output; each must stay within the model's max output. */
  readonly outputFields: readonly string[];
  validate(body: Record<string, unknown>): Result<CallShape>;
  /** Upper bound of the input tokens the provider will count. */
  estimateInput(body: Record<string, unknown>): number;
  /** Output tokens the call may generate at most. */
  maxOutput(body: Record<string, unknown>, modelMaxOutput: number): number;
  /** Lowers the request's output cap (clamping). */
  setMaxOutput(body: Record<string, unknown>, tokens: number): void;
  /** The request in canonical form, for providers that do not speak this dialect; null if it cannot be translated. */
  toCanonical: ((body: Record<string, unknown>) => CanonicalRequest) | null;
  fromCanonical(completion: CanonicalCompletion, usage: Usage | null, ctx: EncoderContext): unknown;
  createEncoder(ctx: EncoderContext): StreamEncoder;
  errorResponse(d: Denial): IngressErrorResponse;
  /** An error event inside an already-started stream. */
  streamError(d: Denial): string;
}
