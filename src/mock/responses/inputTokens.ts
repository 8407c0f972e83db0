import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { isRecord } from '../../json.ts';

/** Framing the mock adds per instructions block and per input item, and once to prime the reply. */
const PER_ITEM = 3;
const REPLY_PRIMING = 3;
/** What OpenAI bills a low-detail image; the mock uses it for every image part. */
const IMAGE_TOKENS = 85;

/** Special-token text in a prompt is ordinary text to OpenAI, not an error. */
const AS_PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function tokens(text: unknown): number {
  return typeof text === 'string' && text.length > 0 ? countTokens(text, AS_PLAIN_TEXT) : 0;
}

function contentTokens(content: unknown): number {
  if (typeof content === 'string') return tokens(content);
  if (!Array.isArray(content)) return 0;
  let sum = 0;
  for (const part of content as unknown[]) {
    if (!isRecord(part)) continue;
    if (part.type === 'input_text' || part.type === 'output_text') sum += tokens(part.text);
    else if (part.type === 'refusal') sum += tokens(part.refusal);
    else if (part.type === 'input_image') sum += IMAGE_TOKENS;
  }
  return sum;
}

function itemTokens(item: unknown): number {
  if (!isRecord(item)) return 0;
  switch (item.type) {
    case 'function_call':
      return tokens(item.name) + tokens(item.arguments);
    case 'function_call_output':
      return typeof item.output === 'string' ? tokens(item.output) : tokens(JSON.stringify(item.output));
    case 'message':
    case undefined:
      return contentTokens(item.content);
    default:
      return 0;
  }
}

/**
 * The exact input_tokens the mock reports for a Responses request:
 *   3
 *   + (3 + tokens(instructions)) when instructions is a string
 *   + (3 + tokens(input)) when input is a string, else Σ over input items of 3 +
 *       messages: input_text / output_text text, refusal text, 85 per input_image;
 *       function_call: name + arguments; function_call_output: output (JSON if not a string)
 *   + tokens(JSON.stringify(tools)) when tools is not null/undefined.
 * Tolerates malformed shapes (counts them as 0) because the server calls it on client input.
 */
export function mockResponsesInputTokens(body: Record<string, unknown>): number {
  let sum = REPLY_PRIMING;
  if (typeof body.instructions === 'string') sum += PER_ITEM + tokens(body.instructions);
  const input = body.input;
  if (typeof input === 'string') sum += PER_ITEM + tokens(input);
  else if (Array.isArray(input)) {
    for (const item of input as unknown[]) sum += PER_ITEM + itemTokens(item);
  }
  if (body.tools != null) sum += tokens(JSON.stringify(body.tools));
  return sum;
}
