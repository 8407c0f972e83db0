import { isRecord } from '../json.ts';
import { DEFAULT_MAX_TOKENIZE_BYTES, requestTokenCounter, utf8ByteLength } from './tokens.ts';

/**
 * Input-token estimate of an OpenAI chat-completions body for the reservation: an UPPER
 * BOUND of the prompt_tokens the provider will report. Being low lets a call overspend a
 * hard cap, being high only makes the reservation briefly pessimistic, so every doubt is
 * resolved upwards. Never throws: any shape it does not know is counted as its JSON.
 */

/**
 * Tokens per image part. OpenAI high detail scales an image to fit 2048x2048, then its
 * short side to 768, and bills 85 + 170 per 512px tile: at most 2x4 tiles = 1,445 tokens
 * for gpt-4o / gpt-4.1 / o-series tile models, whatever the image size. 1,800 leaves
 * headroom for framing. It is NOT a bound for models with other image accounting: patch
 * models (gpt-4.1-mini/nano, o4-mini: up to 1,536 patches x 1.62-2.46 = ~2,500-3,800) and
 * gpt-4o-mini (2,833 + 5,667 per tile). Callers pass `imageTokens` for those.
 */
export const IMAGE_PART_TOKENS = 1800;

/** Per-message framing (<|start|>role ... <|end|>); OpenAI's own recipe uses 3. */
const MESSAGE_FRAMING = 4;
/** The assistant header every reply is primed with. */
const REPLY_PRIMING = 3;
/** The name field costs one more token than its text. */
const NAME_FRAMING = 1;
/** Separator between content parts, in case the provider joins them. */
const PART_FRAMING = 1;
/** Per tool call: the rendering of call id, type and argument delimiters. */
const TOOL_CALL_FRAMING = 8;
/** The system-prompt preamble that introduces tool definitions. */
const TOOLS_FRAMING = 16;

/**
 * Total text tokenized per request; texts past it are counted by byte length. Keeps a
 * body of many 60 KiB texts from costing a tokenizer pass over megabytes.
 */
export const DEFAULT_REQUEST_TOKENIZE_BYTES = 128 * 1024;

export interface ChatEstimateOptions {
  /** Tokens charged per image part; default IMAGE_PART_TOKENS. */
  imageTokens?: number;
  /** A single text above this many UTF-8 bytes is counted by bytes; default 64 KiB. */
  maxTokenizeBytes?: number;
  /** Text tokenized per request before falling back to bytes; default 128 KiB. */
  requestTokenizeBytes?: number;
}

type Count = (text: string) => number;

interface Counter {
  text: Count;
  imageTokens: number;
}

/** Estimated prompt tokens of a chat-completions request body, margin included. */
export function estimateChatInputTokens(body: unknown, options: ChatEstimateOptions = {}): number {
  const counter: Counter = {
    text: requestTokenCounter(
      options.requestTokenizeBytes ?? DEFAULT_REQUEST_TOKENIZE_BYTES,
      options.maxTokenizeBytes ?? DEFAULT_MAX_TOKENIZE_BYTES,
    ),
    imageTokens: options.imageTokens ?? IMAGE_PART_TOKENS,
  };
  return withMargin(bodyTokens(body, counter));
}

/** +2% + 8 tokens: covers tokenizer drift between our o200k count and the provider's. */
export function withMargin(tokens: number): number {
  return tokens + Math.ceil(tokens / 50) + 8;
}

function bodyTokens(body: unknown, c: Counter): number {
  if (!isRecord(body)) return json(body, c);
  let total = REPLY_PRIMING;
  const { messages } = body;
  if (Array.isArray(messages)) {
    for (const message of messages) total += messageTokens(message, c);
  } else {
    total += json(messages, c);
  }
  for (const key of ['tools', 'functions'] as const) {
    if (body[key] !== undefined && body[key] !== null) total += json(body[key], c) + TOOLS_FRAMING;
  }
  // A forced tool or a JSON schema is rendered into the prompt too.
  for (const key of ['tool_choice', 'function_call', 'response_format'] as const) {
    if (isRecord(body[key])) total += json(body[key], c);
  }
  return total;
}

/** Message fields counted by their own rule; any other field counts as its key and JSON. */
const MESSAGE_FIELDS = new Set(['role', 'content', 'name', 'tool_calls', 'function_call']);

function messageTokens(message: unknown, c: Counter): number {
  if (!isRecord(message)) return MESSAGE_FRAMING + json(message, c);
  let total = MESSAGE_FRAMING + stringOrJson(message.role, c) + contentTokens(message.content, c);
  if (message.name !== undefined && message.name !== null)
    total += stringOrJson(message.name, c) + NAME_FRAMING;
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) total += toolCallTokens(call, c);
  } else {
    total += optionalJson(message.tool_calls, c);
  }
  if (message.function_call !== undefined && message.function_call !== null) {
    total += functionTokens(message.function_call, c);
  }
  for (const [key, value] of Object.entries(message)) {
    // tool_call_id, refusal, audio, and whatever comes next: counted, never ignored.
    if (!MESSAGE_FIELDS.has(key) && value !== undefined && value !== null) {
      total += c.text(key) + stringOrJson(value, c);
    }
  }
  return total;
}

function contentTokens(content: unknown, c: Counter): number {
  if (typeof content === 'string') return c.text(content);
  if (!Array.isArray(content)) return optionalJson(content, c);
  let total = 0;
  for (const part of content) total += PART_FRAMING + partTokens(part, c);
  return total;
}

function partTokens(part: unknown, c: Counter): number {
  if (typeof part === 'string') return c.text(part);
  if (!isRecord(part)) return json(part, c);
  switch (part.type) {
    case 'text':
      return typeof part.text === 'string' ? c.text(part.text) : json(part, c);
    case 'refusal':
      return typeof part.refusal === 'string' ? c.text(part.refusal) : json(part, c);
    case 'image_url':
    case 'input_image':
    case 'image':
      return c.imageTokens;
    case 'input_audio':
      // Base64 bytes far exceed audio tokens (~10 per second of speech for OpenAI).
      return dataBytes(field(part.input_audio, 'data'), part, c);
    case 'file':
      // A PDF is billed as its text plus page images; the base64 size bounds both in practice.
      return dataBytes(field(part.file, 'file_data'), part, c);
    default:
      return json(part, c);
  }
}

function dataBytes(data: unknown, part: Record<string, unknown>, c: Counter): number {
  // A part that names its content by id (file_id) has no bytes here: count what we have.
  return typeof data === 'string' ? utf8ByteLength(data) : json(part, c);
}

function toolCallTokens(call: unknown, c: Counter): number {
  if (!isRecord(call) || !isRecord(call.function)) return TOOL_CALL_FRAMING + json(call, c);
  return TOOL_CALL_FRAMING + functionTokens(call.function, c);
}

function functionTokens(fn: unknown, c: Counter): number {
  if (!isRecord(fn)) return json(fn, c);
  return stringOrJson(fn.name, c) + stringOrJson(fn.arguments, c);
}

function stringOrJson(value: unknown, c: Counter): number {
  return typeof value === 'string' ? c.text(value) : optionalJson(value, c);
}

function optionalJson(value: unknown, c: Counter): number {
  return value === undefined || value === null ? 0 : json(value, c);
}

function json(value: unknown, c: Counter): number {
  return c.text(safeStringify(value));
}

function safeStringify(value: unknown): string {
  try {
    // JSON.stringify returns undefined for undefined and functions.
    return JSON.stringify(value) ?? '';
  } catch {
    // Only values that never come from JSON.parse (cycles, BigInt) get here.
    return String(value);
  }
}

function field(value: unknown, key: string): unknown {
  return isRecord(value) ? value[key] : undefined;
}
