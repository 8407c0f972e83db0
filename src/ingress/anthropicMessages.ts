import { denial } from '../errors.ts';
import { estimateChatInputTokens, IMAGE_PART_TOKENS } from '../estimate/chat.ts';
import { maxOutputTokens } from '../estimate/output.ts';
import { isRecord } from '../json.ts';
import { fail, ok, type Result } from '../result.ts';
import { AnthropicMessagesEncoder } from './anthropic/encoder.ts';
import { anthropicErrorResponse, anthropicStreamError } from './anthropic/errors.ts';
import { messageFromCompletion } from './anthropic/fromChat.ts';
import { anthropicToChat } from './anthropic/toChat.ts';
import type { CallShape, Ingress } from './types.ts';

type Json = Record<string, unknown>;

const bad = (message: string, param: string): Result<never> =>
  fail(denial('invalid_request', message, { param }));

/** Shape checks for a Messages body: enough to price and route it; the provider checks the rest. */
export function validateMessagesBody(body: Json): Result<CallShape> {
  if (typeof body.model !== 'string' || body.model.trim() === '') {
    return bad('model: Field required (a non-empty string)', 'model');
  }
  const max = body.max_tokens;
  if (typeof max !== 'number' || !Number.isInteger(max) || max <= 0) {
    return bad('max_tokens: Field required (a positive integer)', 'max_tokens');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return bad('messages: Field required (a non-empty list)', 'messages');
  }
  for (let i = 0; i < body.messages.length; i++) {
    const m: unknown = body.messages[i];
    if (!isRecord(m)) return bad(`messages.${i}: Input should be an object`, `messages.${i}`);
    if (m.role !== 'user' && m.role !== 'assistant') {
      return bad(`messages.${i}.role: Input should be 'user' or 'assistant'`, `messages.${i}.role`);
    }
    if (typeof m.content !== 'string' && !(Array.isArray(m.content) && m.content.every(isRecord))) {
      return bad(
        `messages.${i}.content: Input should be a string or a list of content blocks`,
        `messages.${i}.content`,
      );
    }
  }
  const system = body.system;
  if (
    system !== undefined &&
    typeof system !== 'string' &&
    !(Array.isArray(system) && system.every(isRecord))
  ) {
    return bad('system: Input should be a string or a list of text blocks', 'system');
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    return bad('stream: Input should be a valid boolean', 'stream');
  }
  if (body.tools !== undefined && !Array.isArray(body.tools))
    return bad('tools: Input should be a list', 'tools');
  if (body.tool_choice !== undefined && !isRecord(body.tool_choice)) {
    return bad('tool_choice: Input should be an object', 'tool_choice');
  }
  const stream = body.stream === true;
  // Usage is always part of an Anthropic stream (message_start, message_delta).
  return ok({ model: body.model, stream, clientWantsUsage: stream });
}

function documentCount(body: Json): number {
  let n = 0;
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    const content = isRecord(m) ? m.content : null;
    if (!Array.isArray(content)) continue;
    for (const block of content) if (isRecord(block) && block.type === 'document') n++;
  }
  return n;
}

/**
 * Upper bound of the input tokens (o200k) of a Messages body: the body as chat, estimated like a
 * chat call (images at the chat estimate's per-image bound), plus a page image's worth per PDF
 * document (the chat estimate counts its bytes; a page also costs a rendered image). A provider
 * whose tokenizer differs raises it (see ProviderAdapter.boundInputTokens).
 */
export function estimateMessagesInputTokens(body: Json): number {
  return estimateChatInputTokens(anthropicToChat(body)) + documentCount(body) * IMAGE_PART_TOKENS;
}

/** Smallest thinking budget Anthropic accepts. */
const MIN_THINKING_BUDGET = 1024;

/**
 * Lowers max_tokens (clamping). Extended thinking must stay below max_tokens: its budget is
 * lowered with it, and dropped when what remains is under Anthropic's minimum budget — a
 * clamped call answers without extended thinking rather than failing.
 */
export function setMessagesMaxTokens(body: Json, tokens: number): void {
  const cap = Math.max(0, Math.floor(Number.isNaN(tokens) ? 0 : tokens));
  if (typeof body.max_tokens !== 'number' || body.max_tokens > cap) body.max_tokens = cap;
  const thinking = body.thinking;
  if (!isRecord(thinking) || thinking.type !== 'enabled') return;
  const budget = typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : 0;
  const max = body.max_tokens as number;
  if (budget < max) return;
  if (max - 1 >= MIN_THINKING_BUDGET) body.thinking = { ...thinking, budget_tokens: max - 1 };
  else delete body.thinking;
}

/** POST /v1/messages: Anthropic's Messages API, for the official SDK and anything that speaks it. */
export const anthropicMessagesIngress: Ingress = {
  dialect: 'anthropic-messages',
  endpoint: '/v1/messages',
  outputFields: ['max_tokens'],
  validate: validateMessagesBody,
  estimateInput: estimateMessagesInputTokens,
  maxOutput: (body, modelMax) => maxOutputTokens({ max_tokens: body.max_tokens }, modelMax).tokens,
  setMaxOutput: setMessagesMaxTokens,
  toCanonical: anthropicToChat,
  fromCanonical: messageFromCompletion,
  createEncoder: (ctx) => new AnthropicMessagesEncoder(ctx),
  errorResponse: anthropicErrorResponse,
  streamError: anthropicStreamError,
};
