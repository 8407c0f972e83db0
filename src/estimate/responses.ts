import { isRecord } from '../json.ts';
import {
  type ChatEstimateOptions,
  DEFAULT_REQUEST_TOKENIZE_BYTES,
  IMAGE_PART_TOKENS,
  withMargin,
} from './chat.ts';
import { DEFAULT_MAX_TOKENIZE_BYTES, requestTokenCounter, utf8ByteLength } from './tokens.ts';

/**
 * Input-token estimate of an OpenAI Responses body: an UPPER BOUND of the input_tokens the
 * provider reports, built like the chat estimate (each input item framed like a chat message,
 * the same margin). Never throws: any shape it does not know is counted as its JSON.
 *
 * It cannot see server-side state: a `previous_response_id`, `conversation` or stored
 * `prompt` adds input the gateway never receives, so for those calls the bound covers only
 * what the request itself carries.
 */

/** Framing of the instructions block and of each input item, as for a chat message. */
const ITEM_FRAMING = 4;
const REPLY_PRIMING = 3;
const PART_FRAMING = 1;
const TOOL_CALL_FRAMING = 8;
const TOOLS_FRAMING = 16;

interface Counter {
  text: (text: string) => number;
  imageTokens: number;
}

export function estimateResponsesInputTokens(body: unknown, options: ChatEstimateOptions = {}): number {
  const c: Counter = {
    text: requestTokenCounter(
      options.requestTokenizeBytes ?? DEFAULT_REQUEST_TOKENIZE_BYTES,
      options.maxTokenizeBytes ?? DEFAULT_MAX_TOKENIZE_BYTES,
    ),
    imageTokens: options.imageTokens ?? IMAGE_PART_TOKENS,
  };
  return withMargin(bodyTokens(body, c));
}

function bodyTokens(body: unknown, c: Counter): number {
  if (!isRecord(body)) return json(body, c);
  let total = REPLY_PRIMING + blockTokens(body.instructions, c) + blockTokens(body.input, c);
  if (isSet(body.tools)) total += json(body.tools, c) + TOOLS_FRAMING;
  // A forced tool, a JSON schema (text.format) or a prompt reference is rendered into the prompt too.
  for (const key of ['tool_choice', 'text', 'prompt'] as const) {
    if (isRecord(body[key])) total += json(body[key], c);
  }
  return total;
}

/** `instructions` or `input`: a string (one message) or a list of input items. */
function blockTokens(value: unknown, c: Counter): number {
  if (typeof value === 'string') return ITEM_FRAMING + c.text(value);
  if (!Array.isArray(value)) return optionalJson(value, c);
  let total = 0;
  for (const item of value) total += itemTokens(item, c);
  return total;
}

/** Item fields that are bookkeeping, not prompt text. */
const UNCOUNTED = new Set(['type', 'id', 'status']);
const MESSAGE_FIELDS = new Set(['role', 'content']);

function itemTokens(item: unknown, c: Counter): number {
  if (!isRecord(item)) return ITEM_FRAMING + json(item, c);
  switch (item.type) {
    case 'message':
    case undefined: {
      let total = ITEM_FRAMING + stringOrJson(item.role, c) + contentTokens(item.content, c);
      for (const [key, value] of Object.entries(item)) {
        if (!MESSAGE_FIELDS.has(key) && !UNCOUNTED.has(key) && isSet(value))
          total += c.text(key) + stringOrJson(value, c);
      }
      return total;
    }
    case 'function_call':
      return (
        TOOL_CALL_FRAMING +
        stringOrJson(item.name, c) +
        stringOrJson(item.arguments, c) +
        stringOrJson(item.call_id, c)
      );
    case 'function_call_output':
      return ITEM_FRAMING + stringOrJson(item.call_id, c) + stringOrJson(item.output, c);
    default:
      // Reasoning, built-in tool calls, item references and whatever comes next: counted as JSON.
      return ITEM_FRAMING + json(item, c);
  }
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
    case 'input_text':
    case 'output_text':
    case 'text':
      return typeof part.text === 'string' ? c.text(part.text) : json(part, c);
    case 'refusal':
      return typeof part.refusal === 'string' ? c.text(part.refusal) : json(part, c);
    case 'input_image':
      return c.imageTokens;
    case 'input_file':
      // A PDF is billed as its text plus page images; the base64 size bounds both in practice.
      return typeof part.file_data === 'string' ? utf8ByteLength(part.file_data) : json(part, c);
    case 'input_audio': {
      const audio = part.input_audio;
      const data = isRecord(audio) ? audio.data : undefined;
      return typeof data === 'string' ? utf8ByteLength(data) : json(part, c);
    }
    default:
      return json(part, c);
  }
}

function stringOrJson(value: unknown, c: Counter): number {
  return typeof value === 'string' ? c.text(value) : optionalJson(value, c);
}

function optionalJson(value: unknown, c: Counter): number {
  return isSet(value) ? json(value, c) : 0;
}

function json(value: unknown, c: Counter): number {
  try {
    return c.text(JSON.stringify(value) ?? '');
  } catch {
    // Only values that never come from JSON.parse (cycles, BigInt) get here.
    return c.text(String(value));
  }
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}
