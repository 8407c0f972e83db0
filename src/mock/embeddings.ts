import type { RequestProblem } from './chatRequest.ts';
import { mockInputTokens } from './promptTokens.ts';

const DEFAULT_DIMENSIONS = 8;

export interface EmbeddingsRequest {
  model: string;
  items: readonly unknown[];
  dimensions: number;
  base64: boolean;
}

export type ParsedEmbeddings =
  | { ok: true; request: EmbeddingsRequest }
  | { ok: false; problem: RequestProblem };

function isTokenArray(value: unknown): boolean {
  return Array.isArray(value) && value.every((v) => typeof v === 'number');
}

export function parseEmbeddingsRequest(body: unknown): ParsedEmbeddings {
  const fail = (
    message: string,
    param: string | null = null,
    code: string | null = null,
  ): ParsedEmbeddings => ({
    ok: false,
    problem: { message, param, code },
  });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail('Invalid type for body: expected an object.');
  }
  const { model, input, dimensions, encoding_format: format } = body as Record<string, unknown>;
  if (typeof model !== 'string' || model === '') return fail('you must provide a model parameter');
  if (input === undefined)
    return fail("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  let items: unknown[];
  if (typeof input === 'string' || isTokenArray(input)) items = [input];
  else if (
    Array.isArray(input) &&
    input.length > 0 &&
    input.every((i) => typeof i === 'string' || isTokenArray(i))
  ) {
    items = input;
  } else {
    return fail(
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
      'input',
    );
  }
  if (
    dimensions != null &&
    !(typeof dimensions === 'number' && Number.isInteger(dimensions) && dimensions >= 1)
  ) {
    return fail(`Invalid 'dimensions': expected an integer >= 1.`, 'dimensions', 'invalid_value');
  }
  if (format != null && format !== 'float' && format !== 'base64') {
    return fail(
      `Invalid value for 'encoding_format': expected 'float' or 'base64', got '${String(format)}'.`,
      'encoding_format',
      'invalid_value',
    );
  }
  return {
    ok: true,
    request: {
      model,
      items,
      dimensions: typeof dimensions === 'number' ? dimensions : DEFAULT_DIMENSIONS,
      base64: format === 'base64',
    },
  };
}

/** FNV-1a of the item, so equal inputs embed to equal vectors. */
function seedOf(item: unknown): number {
  const text = typeof item === 'string' ? item : JSON.stringify(item);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0 || 1;
}

/** A deterministic unit vector (OpenAI's embeddings are normalized), in float32 like the real ones. */
function embed(item: unknown, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  let state = seedOf(item);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    // xorshift32: cheap and good enough to look like noise.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const value = ((state >>> 0) / 0xffffffff) * 2 - 1;
    vector[i] = value;
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! * scale;
  return vector;
}

export function embeddingsBody(request: EmbeddingsRequest): unknown {
  let tokens = 0;
  const data = request.items.map((item, index) => {
    tokens += mockInputTokens(item);
    const vector = embed(item, request.dimensions);
    const embedding = request.base64
      ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64')
      : Array.from(vector);
    return { object: 'embedding', index, embedding };
  });
  return {
    object: 'list',
    data,
    model: request.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
